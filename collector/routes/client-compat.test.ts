// Requests shaped exactly as Segment's and RudderStack's client libraries send them (paths, methods, headers,
// bodies), against a real collector: the short event paths, the settings each SDK fetches first, telemetry.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../test/support/clickhouse';
import { startTestCollector, type TestCollector } from '../../test/support/collector';

const origin = 'https://shop.example';
let collector: TestCollector;
let key: string;
beforeAll(async () => {
  collector = await startTestCollector({ allowedOrigins: [origin] });
  key = collector.source.writeKey;
});
afterAll(() => collector?.close());

const basic = (writeKey: string) => `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
const event = (type: string, id: string, extra: Record<string, unknown> = {}) => ({
  type,
  messageId: id,
  anonymousId: 'compat-anon',
  timestamp: new Date().toISOString(),
  context: { library: { name: 'compat-test', version: '1' } },
  ...extra,
});

async function refused(reason: string): Promise<number> {
  const { values } = await collector.metrics.refusedRequests.get();
  return values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('Segment mobile libraries: POST {apiHost}/b', () => {
  it('takes analytics-kotlin batches (text/plain, gzip, writeKey in the body, no Authorization)', async () => {
    // analytics-kotlin RequestFactory.upload: `https://$apiHost/b`, Content-Type text/plain, createPostConnection
    // adds Content-Encoding: gzip; the batch file is {"batch":[…],"sentAt":…,"writeKey":…} (EventsFileManager).
    const body = { batch: [event('track', 'kotlin-1', { event: 'Song Played' }), event('screen', 'kotlin-2', { name: 'Home' })], sentAt: new Date().toISOString(), writeKey: key };
    const response = await fetch(`${collector.url}/v1/b`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'user-agent': 'analytics-kotlin/1.16.0' },
      body: gzipSync(JSON.stringify(body)),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 2, rejected: [] });
    const rows = await waitUntil(
      () => collector.db.rows<{ message_id: string; type: string }>("SELECT message_id, type FROM events WHERE message_id LIKE 'kotlin-%' ORDER BY message_id"),
      (r) => r.length === 2,
    );
    expect(rows).toEqual([{ message_id: 'kotlin-1', type: 'track' }, { message_id: 'kotlin-2', type: 'screen' }]);
  });

  it('takes analytics-swift batches (application/json; charset=utf-8)', async () => {
    // analytics-swift HTTPClient.startBatchUpload: segmentURL(apiHost, "/b"), configuredRequest sets
    // Content-Type application/json; charset=utf-8 and User-Agent analytics-ios/<version>.
    const body = { batch: [event('identify', 'swift-1', { userId: 'u-swift', traits: { plan: 'pro' } })], sentAt: new Date().toISOString(), writeKey: key };
    const response = await fetch(`${collector.url}/v1/b`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'analytics-ios/1.7.0', 'accept-encoding': 'gzip' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 1, rejected: [] });
  });

  it('answers /v1/b as /v1/batch: the same refusals, limits and counters', async () => {
    const before = await refused('unknown_write_key');
    const unknown = await fetch(`${collector.url}/v1/b`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ writeKey: 'nobody-has-this', batch: [event('track', 'x', { event: 'E' })] }) });
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ error: 'unknown_write_key' });
    expect(await refused('unknown_write_key')).toBe(before + 1);

    const tooMany = await fetch(`${collector.url}/v1/b`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ writeKey: key, batch: Array.from({ length: 2501 }, () => ({})) }) });
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toMatchObject({ error: 'too_many_events' });

    const foreign = await fetch(`${collector.url}/v1/b`, { method: 'POST', headers: { 'content-type': 'text/plain', origin: 'https://elsewhere.example' }, body: JSON.stringify({ writeKey: key, batch: [event('track', 'y', { event: 'E' })] }) });
    expect(foreign.status).toBe(403);
  });
});

describe('analytics.js (analytics-next): POST {apiHost}/<first letter of the type>', () => {
  it.each([
    ['t', 'track', { event: 'Clicked' }],
    ['p', 'page', { name: 'Home', properties: { path: '/' } }],
    ['s', 'screen', { name: 'Home' }],
    ['i', 'identify', { userId: 'u-ajs', traits: { plan: 'pro' } }],
    ['a', 'alias', { userId: 'u-ajs', previousId: 'compat-anon' }],
    ['g', 'group', { userId: 'u-ajs', groupId: 'g-1', traits: {} }],
  ])('takes /v1/%s as a %s event, text/plain from a page with writeKey and sentAt in the body', async (letter, type, fields) => {
    // plugins/segmentio: `${remote}/${ctx.event.type.charAt(0)}`; fetch-dispatcher posts Content-Type text/plain;
    // normalize() puts writeKey, sentAt and _metadata in the event.
    const body = { ...event(type, `ajs-${letter}`, fields), writeKey: key, sentAt: new Date().toISOString(), _metadata: { bundled: ['Segment.io'], unbundled: [], bundledIds: [] } };
    const response = await fetch(`${collector.url}/v1/${letter}`, { method: 'POST', headers: { 'content-type': 'text/plain', origin }, body: JSON.stringify(body) });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(origin);
    expect(await response.json()).toEqual({ accepted: 1, rejected: [] });
    const rows = await waitUntil(() => collector.db.rows<{ type: string }>(`SELECT type FROM events WHERE message_id = 'ajs-${letter}'`), (r) => r.length === 1);
    expect(rows).toEqual([{ type }]);
  });

  it('refuses a short path as its long form does (no write key: 401 missing_write_key)', async () => {
    const short = await fetch(`${collector.url}/v1/t`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(event('track', 'nokey', { event: 'E' })) });
    const long = await fetch(`${collector.url}/v1/track`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(event('track', 'nokey', { event: 'E' })) });
    expect(short.status).toBe(401);
    expect(await short.json()).toEqual(await long.json());
  });
});

describe('Segment settings: GET /v1/projects/:writeKey/settings', () => {
  it('answers what analytics-kotlin, analytics-swift and analytics.js need, pointing apiHost back here', async () => {
    // analytics-kotlin RequestFactory.settings: GET https://$cdnHost/projects/$writeKey/settings (needs 200);
    // analytics-next loadLegacySettings: GET ${cdnURL}/v1/projects/${writeKey}/settings from the page.
    const response = await fetch(`${collector.url}/v1/projects/${key}/settings`, { headers: { origin } });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(origin);
    expect(response.headers.get('cache-control')).toBe('private, max-age=300');
    const settings = (await response.json()) as Record<string, unknown>;
    const host = new URL(collector.url).host;
    expect(settings).toMatchObject({
      // analytics-kotlin sends nothing when "Segment.io" is missing, and sends to api.segment.io when its apiHost is.
      integrations: { 'Segment.io': { apiKey: key, apiHost: `${host}/v1`, protocol: 'http' } },
      // Their telemetry would go to api.segment.io: off.
      metrics: { sampleRate: 0 },
    });
    expect(Object.keys(settings.integrations as object)).toEqual(['Segment.io']);
  });

  it('behind a trusted proxy, points apiHost at the public host and scheme the proxy names', async () => {
    const proxied = await startTestCollector({}, { trustedProxies: ['127.0.0.1'] });
    try {
      const response = await fetch(`${proxied.url}/v1/projects/${proxied.source.writeKey}/settings`, {
        headers: { 'x-forwarded-host': 'collect.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' },
      });
      expect(await response.json()).toMatchObject({ integrations: { 'Segment.io': { apiHost: 'collect.example.com/v1', protocol: 'https' } } });
    } finally {
      await proxied.close();
    }
  });

  it('with publicUrl, names it (host, port and path prefix) whatever Host or a trusted proxy says', async () => {
    // A proxy serving the collector under https://shop.example.com:8443/tagflow/ that strips the prefix: only the
    // operator knows the prefix. The clients build their URLs from apiHost (no scheme) as below.
    const publicUrl = 'https://shop.example.com:8443/tagflow';
    const prefixed = await startTestCollector({}, { trustedProxies: ['127.0.0.1'], publicUrl });
    try {
      const response = await fetch(`${prefixed.url}/v1/projects/${prefixed.source.writeKey}/settings`, {
        headers: { 'x-forwarded-host': 'internal.example', 'x-forwarded-proto': 'http' },
      });
      expect(response.status).toBe(200);
      const settings = (await response.json()) as { integrations: { 'Segment.io': { apiHost: string; protocol: string } } };
      const { apiHost, protocol } = settings.integrations['Segment.io'];
      expect({ apiHost, protocol }).toEqual({ apiHost: 'shop.example.com:8443/tagflow/v1', protocol: 'https' });
      // analytics-kotlin RequestFactory.upload and analytics-swift segmentURL: `https://${apiHost}/b`;
      // analytics-next: `${protocol}://${apiHost}/${type[0]}`.
      expect(`https://${apiHost}/b`).toBe(`${publicUrl}/v1/b`);
      expect(`${protocol}://${apiHost}/t`).toBe(`${publicUrl}/v1/t`);
      const sourceConfig = await fetch(`${prefixed.url}/sourceConfig?p=android&v=1`, { headers: { authorization: basic(prefixed.source.writeKey) } });
      // RudderStack's source config names no data plane either way (see rudderSourceConfig): the SDKs keep theirs.
      expect(((await sourceConfig.json()) as { source: Record<string, unknown> }).source).not.toHaveProperty('dataplanes');
    } finally {
      await prefixed.close();
    }
  });

  it('answers an unknown write key 404 in the collector shape, and a foreign page 403', async () => {
    const unknown = await fetch(`${collector.url}/v1/projects/nobody-has-this/settings`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'unknown_write_key', message: expect.any(String) });
    const foreign = await fetch(`${collector.url}/v1/projects/${key}/settings`, { headers: { origin: 'https://elsewhere.example' } });
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ error: 'origin_not_allowed' });
  });
});

describe('Segment telemetry: POST {apiHost}/m', () => {
  it('is answered 2xx and discarded, counting no refusal', async () => {
    // analytics-kotlin Telemetry: MetricsRequestFactory posts {"series":[…]} to https://${host}/m, text/plain, gzip,
    // without a write key.
    const series = { series: [{ type: 'Counter', metric: 'analytics_mobile.invoke', value: 1, tags: { library: 'analytics.kotlin' } }] };
    const { values: before } = await collector.metrics.refusedRequests.get();
    const response = await fetch(`${collector.url}/v1/m`, { method: 'POST', headers: { 'content-type': 'text/plain', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify(series)) });
    expect(response.status).toBe(204);
    expect((await collector.metrics.refusedRequests.get()).values).toEqual(before);
  });
});

describe('RudderStack source config: GET {controlPlaneUrl}/sourceConfig', () => {
  const expectValid = (body: { source?: Record<string, unknown> }) => {
    // rudder-sdk-js v3 isValidSourceConfig; rudder-sdk-android #429 (config.statsCollection); Kotlin SDK's required fields.
    expect(body.source).toMatchObject({
      id: collector.source.id,
      name: collector.source.id,
      writeKey: key,
      enabled: true,
      workspaceId: expect.any(String),
      updatedAt: expect.any(String),
      config: { statsCollection: { errors: { enabled: false }, metrics: { enabled: false } } },
      destinations: [],
    });
  };

  it('answers rudder-sdk-android and rudder-sdk-ios (?p=android|ios&v=…, Basic auth)', async () => {
    for (const query of ['p=android&v=1.25.1&bv=34', 'p=ios&v=1.26.0']) {
      const response = await fetch(`${collector.url}/sourceConfig?${query}`, { headers: { authorization: basic(key) } });
      expect(response.status).toBe(200);
      expectValid((await response.json()) as { source?: Record<string, unknown> });
    }
  });

  it('answers rudder-sdk-js v3 from a page (/sourceConfig/ with writeKey in the query, Basic auth after a preflight)', async () => {
    // getSourceConfigURL: `${configUrl}/sourceConfig/?p=…&v=…&build=modern&writeKey=…&lockIntegrationsVersion=false`.
    const url = `${collector.url}/sourceConfig/?p=npm&v=3.11.0&build=modern&writeKey=${key}&lockIntegrationsVersion=false`;
    const preflight = await fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    expect(preflight.status).toBe(204);
    const response = await fetch(url, { headers: { origin, authorization: basic(key) } });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(origin);
    expectValid((await response.json()) as { source?: Record<string, unknown> });
  });

  it('refuses a missing or unknown write key (401) and a foreign page (403) in the collector shape', async () => {
    const missing = await fetch(`${collector.url}/sourceConfig?p=android&v=1`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: 'missing_write_key' });
    const unknown = await fetch(`${collector.url}/sourceConfig?p=android&v=1`, { headers: { authorization: basic('nobody-has-this') } });
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ error: 'unknown_write_key' });
    const foreign = await fetch(`${collector.url}/sourceConfig/?writeKey=${key}`, { headers: { origin: 'https://elsewhere.example' } });
    expect(foreign.status).toBe(403);
  });
});
