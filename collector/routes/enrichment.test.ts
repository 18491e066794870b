// What the collector adds to an event and what it takes away, end to end into ClickHouse: parsed user
// agent and bot flag, bounded skew correction, the client IP (trusted proxies only, anonymised unless the
// source says otherwise), the consent policies; plus health, readiness and metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceConfig } from '../config';
import { waitUntil } from '../../test/support/clickhouse';
import { startTestCollector, type TestCollector } from '../../test/support/collector';
import { runIdentityJob } from '../warehouse/identity/job';

const source = (id: string, extra: Partial<SourceConfig> = {}): SourceConfig => ({ id, writeKey: `${id}-write-key`, allowedOrigins: [], keepFullIp: false, ...extra });

let direct: TestCollector;
let proxied: TestCollector;
const adminToken = 'admin-token-0123456789';
/** GET /metrics with the admin token it needs. */
const scrape = (target: TestCollector) => fetch(`${target.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } });
beforeAll(async () => {
  [direct, proxied] = await Promise.all([
    startTestCollector({}, { sources: [source('test-source'), source('full-ip', { keepFullIp: true }), source('dropper', { consentPolicy: 'drop' }), source('onetrust', { analyticsConsentIds: ['C0002'] })], adminToken }),
    startTestCollector({}, { sources: [source('test-source', { keepFullIp: true }), source('proxied-anon')], trustedProxies: ['127.0.0.1'] }),
  ]);
});
afterAll(() => Promise.all([direct?.close(), proxied?.close()]));

function send(target: TestCollector, key: string, batch: unknown[], extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return fetch(`${target.url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}`, ...headers },
    body: JSON.stringify({ batch, ...extra }),
  });
}

async function row<T>(target: TestCollector, columns: string, messageId: string): Promise<T> {
  const rows = await waitUntil(() => target.db.rows<T>(`SELECT ${columns} FROM events WHERE message_id = '${messageId}'`), (r) => r.length === 1);
  return rows[0] as T;
}

const chromeOnAndroid = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36';
const googlebot = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

describe('enrichment', () => {
  it("does not flag a server library's events as bots by the library's own User-Agent", async () => {
    await send(direct, 'test-source-write-key', [{ type: 'track', event: 'E', userId: 'u', messageId: 'ua-server', context: { library: { name: 'analytics-python', version: '2.3.2' } } }], {}, { 'user-agent': 'analytics-python/2.3.2' });
    expect(await row(direct, 'user_agent, is_bot', 'ua-server')).toEqual({ user_agent: 'analytics-python/2.3.2', is_bot: 0 });
  });

  it('parses the user agent into browser, OS and device', async () => {
    await send(direct, 'test-source-write-key', [{ type: 'page', anonymousId: 'a', messageId: 'ua-1' }], {}, { 'user-agent': chromeOnAndroid });
    expect(await row(direct, 'browser, os, os_version, device_type, device_vendor, is_bot', 'ua-1')).toEqual({
      browser: 'Chrome',
      os: 'Android',
      os_version: '14',
      device_type: 'mobile',
      device_vendor: 'Google',
      is_bot: 0,
    });
  });

  it("prefers the event's context.userAgent and flags known crawlers", async () => {
    await send(direct, 'test-source-write-key', [{ type: 'page', anonymousId: 'a', messageId: 'ua-bot', context: { userAgent: googlebot } }], {}, { 'user-agent': chromeOnAndroid });
    expect(await row(direct, 'user_agent, is_bot', 'ua-bot')).toEqual({ user_agent: googlebot, is_bot: 1 });
  });

  it('corrects client clock skew by sentAt, but by at most the configured bound', async () => {
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    // A client clock ten minutes fast: the event is moved back by ten minutes.
    await send(direct, 'test-source-write-key', [{ type: 'page', anonymousId: 'a', messageId: 'skew-small', timestamp: iso(now + 10 * 60_000 - 5000) }], { sentAt: iso(now + 10 * 60_000) });
    const small = await row<{ timestamp_ms: number }>(direct, 'timestamp_ms', 'skew-small');
    expect(Math.abs(small.timestamp_ms - (now - 5000))).toBeLessThan(2000);
    // A sentAt 30 days off (beyond the 7-day bound): the correction stops at 7 days.
    await send(direct, 'test-source-write-key', [{ type: 'page', anonymousId: 'a', messageId: 'skew-big', timestamp: iso(now - 30 * 86_400_000) }], { sentAt: iso(now - 30 * 86_400_000) });
    const big = await row<{ timestamp_ms: number }>(direct, 'timestamp_ms', 'skew-big');
    expect(Math.abs(big.timestamp_ms - (now - 23 * 86_400_000))).toBeLessThan(2000);
  });

  it('ignores X-Forwarded-For unless the peer is a trusted proxy', async () => {
    await send(direct, 'full-ip-write-key', [{ type: 'page', anonymousId: 'a', messageId: 'ip-untrusted' }], {}, { 'x-forwarded-for': '203.0.113.77' });
    expect(await row(direct, 'ip', 'ip-untrusted')).toEqual({ ip: '127.0.0.1' });
    await send(proxied, 'test-source-write-key', [{ type: 'page', anonymousId: 'a', messageId: 'ip-trusted' }], {}, { 'x-forwarded-for': '203.0.113.77' });
    expect(await row(proxied, 'ip', 'ip-trusted')).toEqual({ ip: '203.0.113.77' });
  });

  it('takes the address out of a forwarded value with a port, and stores nothing that is not an IP', async () => {
    const forwarded = async (key: string, messageId: string, value: string) => {
      await send(proxied, key, [{ type: 'page', anonymousId: 'a', messageId }], {}, { 'x-forwarded-for': value });
      return (await row<{ ip: string }>(proxied, 'ip', messageId)).ip;
    };
    expect(await forwarded('test-source-write-key', 'xff-port-4', '198.51.100.7:8080')).toBe('198.51.100.7');
    expect(await forwarded('test-source-write-key', 'xff-port-6', '[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(await forwarded('test-source-write-key', 'xff-brackets-6', '[2001:db8::2]')).toBe('2001:db8::2');
    expect(await forwarded('test-source-write-key', 'xff-script', '<script>alert(1)</script>')).toBe('');
    expect(await forwarded('test-source-write-key', 'xff-name', 'proxy.example.com:80')).toBe('');
    expect(await forwarded('proxied-anon-write-key', 'xff-port-anon', '198.51.100.7:8080')).toBe('198.51.100.0');
  });

  it('anonymises the IP unless the source keeps it', async () => {
    await send(direct, 'test-source-write-key', [{ type: 'page', anonymousId: 'a', messageId: 'ip-anon' }]);
    expect(await row(direct, 'ip', 'ip-anon')).toEqual({ ip: '127.0.0.0' });
  });
});

describe('server-side consent', () => {
  const denied = { consent: { categoryPreferences: { analytics: false, marketing: true } } };

  it('stores events that deny analytics without identifiers under the strip policy (the default)', async () => {
    const event = { type: 'identify', userId: 'u-1', anonymousId: 'a-1', traits: { email: 'x@y.z' }, messageId: 'consent-strip', context: { ...denied, traits: { email: 'x@y.z' }, ip: '9.9.9.9', sessionId: 's-1', page: { path: '/p' } } };
    const response = await send(direct, 'full-ip-write-key', [event]);
    expect(await response.json()).toEqual({ accepted: 1, rejected: [] });
    const stored = await row<Record<string, string>>(direct, 'anonymous_id, user_id, ip, traits, session_id, context, page_path', 'consent-strip');
    expect(stored).toMatchObject({ anonymous_id: '', user_id: '', ip: '', traits: '{}', session_id: '', page_path: '/p' });
    expect(stored.context).not.toMatch(/x@y\.z|9\.9\.9\.9|s-1/);
  });

  it('takes the denial from the batch context too, and accepts such events without ids', async () => {
    const response = await send(direct, 'test-source-write-key', [{ type: 'page', messageId: 'consent-batch' }], { context: { consent: { analytics_storage: 'denied' } } });
    expect(response.status).toBe(200);
    expect(await row(direct, 'anonymous_id, ip', 'consent-batch')).toEqual({ anonymous_id: '', ip: '' });
  });

  it('drops them under the drop policy, says so, and counts them', async () => {
    const response = await send(direct, 'dropper-write-key', [
      { type: 'track', event: 'E', anonymousId: 'a', messageId: 'consent-dropped', context: denied },
      { type: 'track', event: 'E', anonymousId: 'a', messageId: 'consent-kept' },
    ]);
    expect(await response.json()).toEqual({ accepted: 1, rejected: [], dropped: 1 });
    await row(direct, 'message_id', 'consent-kept');
    const dropped = await direct.db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id = 'consent-dropped'");
    expect(dropped[0]?.n).toBe(0);
    const metrics = await (await scrape(direct)).text();
    expect(metrics).toMatch(/tagflow_events_consent_total\{source="dropper",action="dropped"\} 1/);
  });

  it('counts the refusal records of "reject all" events per source, one per id and request', async () => {
    const counted = async (sourceId: string) => {
      const text = await (await scrape(direct)).text();
      return Number(new RegExp(`^tagflow_consent_refusals_total\\{source="${sourceId}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    };
    const rejectAll = { consent: { categoryPreferences: { analytics: false, marketing: false } } };
    const [dropperBefore, stripBefore] = [await counted('dropper'), await counted('test-source')];
    await send(direct, 'dropper-write-key', [
      { type: 'track', event: 'E', userId: 'refuser-1', anonymousId: 'a', messageId: 'refusal-count-1', context: rejectAll },
      { type: 'track', event: 'E', userId: 'refuser-1', anonymousId: 'a', messageId: 'refusal-count-2', context: rejectAll },
      { type: 'track', event: 'E', anonymousId: 'refusing-device', messageId: 'refusal-count-3', context: rejectAll },
      { type: 'track', event: 'E', userId: 'undecided', messageId: 'refusal-count-4' },
    ]);
    await send(direct, 'test-source-write-key', [{ type: 'track', event: 'E', userId: 'refuser-2', messageId: 'refusal-count-5', context: rejectAll }]);
    expect(await counted('dropper')).toBe(dropperBefore + 2);
    expect(await counted('test-source')).toBe(stripBefore + 1);
  });

  it('leaves events alone when consent grants analytics or is absent', async () => {
    await send(direct, 'dropper-write-key', [{ type: 'page', anonymousId: 'a-9', messageId: 'consent-granted', context: { consent: { categoryPreferences: { analytics: true } } } }]);
    expect(await row(direct, 'anonymous_id', 'consent-granted')).toEqual({ anonymous_id: 'a-9' });
  });

  it("takes a batch-level denial when the event has a consent object of its own (the audit's repro)", async () => {
    const batch = [{ type: 'track', event: 'E', messageId: 'consent-both-strip', anonymousId: 'anon-1', userId: 'user-1', context: { consent: { categoryPreferences: { marketing: true } } } }];
    const context = { consent: { categoryPreferences: { analytics: false } } };
    expect((await send(direct, 'test-source-write-key', batch, { context })).status).toBe(200);
    expect(await row(direct, 'anonymous_id, user_id, ip', 'consent-both-strip')).toEqual({ anonymous_id: '', user_id: '', ip: '' });
    // Under drop the same event is not stored: the spool ships in order, so once a later request's event
    // is in, the dropped one would be too.
    const dropped = await send(direct, 'dropper-write-key', [{ ...batch[0], messageId: 'consent-both-drop' }], { context });
    expect(await dropped.json()).toEqual({ accepted: 0, rejected: [], dropped: 1 });
    await send(direct, 'dropper-write-key', [{ type: 'track', event: 'E', anonymousId: 'a', messageId: 'consent-both-later' }]);
    await row(direct, 'message_id', 'consent-both-later');
    expect(await direct.db.rows("SELECT message_id FROM events WHERE message_id = 'consent-both-drop'")).toEqual([]);
  });

  it("takes a RudderStack client's denial with the source's consent ids, and stores the consent it applied", async () => {
    // RudderStack's JS SDK v3 with OneTrust: every group in one list or the other.
    const consentManagement = { provider: 'oneTrust', allowedConsentIds: ['C0001', 'C0003'], deniedConsentIds: ['C0002', 'C0004'], resolutionStrategy: 'and' };
    const event = { type: 'track', event: 'E', anonymousId: 'anon-r', userId: 'user-r', messageId: 'consent-rudder', context: { library: { name: 'RudderLabs JavaScript SDK' }, consentManagement } };
    expect((await send(direct, 'onetrust-write-key', [event])).status).toBe(200);
    const stored = await row<{ anonymous_id: string; user_id: string; consent: string }>(direct, 'anonymous_id, user_id, consent', 'consent-rudder');
    expect(stored).toMatchObject({ anonymous_id: '', user_id: '' });
    // Stored in the shape its undenied events get (so the marketing id it denies, C0004, stays on record), analytics denied.
    expect(JSON.parse(stored.consent)).toEqual({
      categoryPreferences: { C0001: true, C0003: true, C0002: false, C0004: false, analytics: false },
      provider: 'oneTrust',
      analyticsDeniedBy: ['context.consentManagement.deniedConsentIds: C0002'],
    });
    // The same visitor accepting analytics is kept whole, and what the event says is stored as Segment's events
    // store it (`categoryPreferences`), with `analytics` from the source's analyticsConsentIds.
    const granted = { ...event, messageId: 'consent-rudder-granted', context: { consentManagement: { ...consentManagement, allowedConsentIds: ['C0001', 'C0002'], deniedConsentIds: ['C0004'] } } };
    await send(direct, 'onetrust-write-key', [granted]);
    const kept = await row<{ anonymous_id: string; consent: string }>(direct, 'anonymous_id, consent', 'consent-rudder-granted');
    expect(kept.anonymous_id).toBe('anon-r');
    expect(JSON.parse(kept.consent)).toEqual({ categoryPreferences: { C0001: true, C0002: true, C0004: false, analytics: true }, provider: 'oneTrust' });
  });

  it("shows a RudderStack visitor's latest consent in profiles, as it does a Segment visitor's", async () => {
    const at = (ms: number) => new Date(Date.now() - ms).toISOString();
    const rudder = (messageId: string, timestamp: string, allowed: string[], denied: string[]) => ({
      type: 'track',
      event: 'E',
      userId: 'user-rudder-profile',
      messageId,
      timestamp,
      // RudderStack's Android SDK (a browser library's event would be judged by this request's User-Agent, a bot's).
      context: { library: { name: 'com.rudderstack.android.sdk.core' }, consentManagement: { provider: 'oneTrust', allowedConsentIds: allowed, deniedConsentIds: denied, resolutionStrategy: 'and' } },
    });
    // Marketing first refused, then granted; the last event, before the platform answered, decides nothing.
    const events = [rudder('profile-r-1', at(3000), ['C0001', 'C0002'], ['C0004']), rudder('profile-r-2', at(2000), ['C0001', 'C0002', 'C0004'], []), rudder('profile-r-3', at(1000), [], [])];
    expect((await send(direct, 'onetrust-write-key', events)).status).toBe(200);
    await waitUntil(() => direct.db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id LIKE 'profile-r-%'"), (r) => r[0]?.n === 3);
    await runIdentityJob(direct.db.client);
    const profiles = await direct.db.rows<{ consent_state: string }>("SELECT consent_state FROM profiles WHERE person_id = 'user:user-rudder-profile'");
    expect(profiles.map((p) => JSON.parse(p.consent_state) as unknown)).toEqual([
      { categoryPreferences: { C0001: true, C0002: true, C0004: true, analytics: true }, provider: 'oneTrust' },
    ]);
  });

  it('recognises denials in any case, as text or as a number', async () => {
    const denials: Record<string, unknown>[] = [
      { analytics: 'DENIED' },
      { analytics_storage: 'DENIED' },
      { analytics: 'false' },
      { analytics: 0 },
      { categoryPreferences: { analytics: 'false' } },
    ];
    const response = await send(direct, 'test-source-write-key', denials.map((consent, i) => ({ type: 'page', anonymousId: 'a-1', userId: 'u-1', messageId: `consent-shape-${i}`, context: { consent } })));
    expect(await response.json()).toEqual({ accepted: 5, rejected: [] });
    const stored = await waitUntil(
      () => direct.db.rows<{ message_id: string; anonymous_id: string; user_id: string }>("SELECT message_id, anonymous_id, user_id FROM events WHERE message_id LIKE 'consent-shape-%' ORDER BY message_id"),
      (rows) => rows.length === denials.length,
    );
    expect(stored.map((r) => [r.anonymous_id, r.user_id])).toEqual(denials.map(() => ['', '']));
  });

  it('strips the group, the location and ad click ids, wherever the event carries them', async () => {
    const landing = 'https://shop.example.com/p?utm_source=ad&gclid=g-secret&q=shoes';
    const event = {
      type: 'page',
      anonymousId: 'a-1',
      groupId: 'account-secret',
      messageId: 'consent-strip-more',
      properties: { url: landing, search: '?utm_source=ad&gclid=g-secret&q=shoes' },
      context: {
        ...denied,
        groupId: 'account-secret',
        location: { latitude: 52.5213, longitude: 13.4049, city: 'Berlin' },
        campaign: { source: 'ad', medium: 'cpc', gclid: 'g-secret', fbclid: 'f-secret', yclid: 'y-secret' },
        page: { path: '/p', url: landing, referrer: 'https://shop.example.com/?fbclid=f-secret' },
      },
    };
    expect(await (await send(direct, 'test-source-write-key', [event])).json()).toEqual({ accepted: 1, rejected: [] });
    const stored = await row<Record<string, string>>(direct, 'group_id, page_url, page_referrer, campaign_source, campaign_medium, properties, context', 'consent-strip-more');
    expect(stored).toMatchObject({ group_id: '', page_url: 'https://shop.example.com/p?utm_source=ad&q=shoes', page_referrer: 'https://shop.example.com/', campaign_source: 'ad', campaign_medium: 'cpc' });
    expect(`${stored.properties} ${stored.context}`).not.toMatch(/secret|52\.52|13\.40|Berlin/);
  });

  it('under drop stores nothing of a denied event that is refused: no quarantine row, counted as dropped', async () => {
    const response = await send(direct, 'dropper-write-key', [
      { type: 'track', userId: 'u-secret', messageId: 'consent-q-denied', context: { consent: { analytics: 'denied' } } }, // no event name
      { type: 'track', userId: 'u-1', messageId: 'consent-q-plain' }, // no event name, no denial
    ]);
    expect(await response.json()).toEqual({ accepted: 0, rejected: [{ index: 1, reason: 'track needs an event name' }], dropped: 1 });
    // Both would be in the same quarantine insert: once the plain one is there, the denied one is not coming.
    const quarantined = await waitUntil(
      () => direct.db.rows<{ raw: string }>("SELECT raw FROM events_quarantine WHERE source = 'dropper' AND raw LIKE '%consent-q-%'"),
      (rows) => rows.some((r) => r.raw.includes('consent-q-plain')),
    );
    expect(quarantined.map((r) => r.raw).join()).not.toContain('consent-q-denied');
  });
});

describe('health, readiness and metrics', () => {
  it('answers /healthz and /readyz (ClickHouse reachable, spool writable)', async () => {
    expect(await (await fetch(`${direct.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${direct.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', clickhouse: true, spool: true });
  });

  it('exposes received, accepted, spooled, inserted, insert latency, spool depth and batch sizes', async () => {
    await send(direct, 'test-source-write-key', [{ type: 'page', anonymousId: 'a', messageId: 'metrics-1' }]);
    await row(direct, 'message_id', 'metrics-1');
    const response = await scrape(direct);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await waitUntil(
      async () => (await scrape(direct)).text(),
      (t) => /tagflow_events_inserted_total [1-9]/.test(t),
    );
    for (const pattern of [
      /tagflow_events_received_total\{source="test-source"\} [1-9]/,
      /tagflow_events_accepted_total\{source="test-source"\} [1-9]/,
      /tagflow_spool_records_total [1-9]/,
      /tagflow_insert_duration_seconds_count [1-9]/,
      /tagflow_insert_batch_rows_bucket\{le="10"\} [1-9]/,
      /tagflow_spool_depth_bytes \d+/,
      /tagflow_process_resident_memory_bytes \d+/,
    ]) {
      expect(text).toMatch(pattern);
    }
  });
});
