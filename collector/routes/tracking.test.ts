// POST /v1/batch against a real collector and a real ClickHouse.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../test/support/clickhouse';
import { startTestCollector, type TestCollector } from '../../test/support/collector';

let collector: TestCollector;
beforeAll(async () => {
  collector = await startTestCollector();
});
afterAll(() => collector.close());

function post(body: string | undefined, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  return fetch(`${collector.url}/v1/batch`, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
}

const auth = () => ({ 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${collector.source.writeKey}:`).toString('base64')}` });
const event = (messageId: string, extra: Record<string, unknown> = {}) => ({ type: 'track', event: 'Product Added', anonymousId: 'anon-1', messageId, ...extra });

describe('POST /v1/batch', () => {
  it('stores a batch sent with Basic auth (as Segment libraries do)', async () => {
    const response = await post(JSON.stringify({ batch: [event('m-1', { properties: { price: 9.5 } }), event('m-2')], sentAt: new Date().toISOString() }), auth());
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 2, rejected: [] });
    const rows = await waitUntil(
      () => collector.db.rows<{ message_id: string; source: string; properties: string }>("SELECT message_id, source, properties FROM events WHERE message_id IN ('m-1', 'm-2') ORDER BY message_id"),
      (r) => r.length === 2,
    );
    expect(rows).toEqual([
      { message_id: 'm-1', source: 'test-source', properties: '{"price":9.5}' },
      { message_id: 'm-2', source: 'test-source', properties: '{}' },
    ]);
  });

  it('takes the write key from the body and text/plain bodies (as sendBeacon sends them)', async () => {
    const response = await post(JSON.stringify({ batch: [event('m-plain')], writeKey: collector.source.writeKey }), { 'content-type': 'text/plain;charset=UTF-8' });
    expect(response.status).toBe(200);
    const rows = await waitUntil(() => collector.db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id = 'm-plain'"), (r) => r[0]?.n === 1);
    expect(rows[0]?.n).toBe(1);
  });

  it('stores the client IP anonymised', async () => {
    await post(JSON.stringify({ batch: [event('m-ip')] }), auth());
    const rows = await waitUntil(() => collector.db.rows<{ ip: string }>("SELECT ip FROM events WHERE message_id = 'm-ip'"), (r) => r.length === 1);
    expect(rows[0]?.ip).toBe('127.0.0.0');
  });

  it.each([
    ['a non-JSON body', '{"batch": [', 'invalid_json'],
    ['an empty body', '', 'empty_body'],
    ['a body that is not an object', '[1,2,3]', 'invalid_shape'],
    ['a batch that is not an array', '{"batch": {"type": "track"}}', 'invalid_shape'],
    ['no batch at all', '{"events": []}', 'invalid_shape'],
  ])('answers 400 with a JSON error naming the problem for %s', async (_label, body, code) => {
    const response = await post(body, auth());
    expect(response.status).toBe(400);
    const json = (await response.json()) as { error: string; message: string };
    expect(json.error).toBe(code);
    expect(json.message.length).toBeGreaterThan(5);
  });

  it('stays up after bad input and keeps what it accepted before', async () => {
    await post('{not json', auth());
    const health = await fetch(`${collector.url}/healthz`);
    expect(health.status).toBe(200);
    const rows = await collector.db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id IN ('m-1', 'm-2')");
    expect(rows[0]?.n).toBe(2);
  });

  it('accepts the valid events of a mixed batch and quarantines the others with their reason', async () => {
    const response = await post(JSON.stringify({ batch: [event('m-ok'), { type: 'track', anonymousId: 'a', messageId: 'm-bad' }, 'junk'] }), auth());
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      accepted: 1,
      rejected: [
        { index: 1, reason: 'track needs an event name' },
        { index: 2, reason: 'event must be a JSON object' },
      ],
    });
    const quarantined = await waitUntil(() => collector.db.rows<{ reason: string; raw: string }>('SELECT reason, raw FROM events_quarantine ORDER BY reason'), (r) => r.length === 2);
    expect(quarantined).toEqual([
      { reason: 'event must be a JSON object', raw: '"junk"' },
      { reason: 'track needs an event name', raw: '{"type":"track","anonymousId":"a","messageId":"m-bad"}' },
    ]);
  });

  it('refuses a missing or unknown write key with 401', async () => {
    const missing = await post(JSON.stringify({ batch: [event('m-x')] }));
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: string }).error).toBe('missing_write_key');
    const unknown = await post(JSON.stringify({ batch: [event('m-x')], writeKey: 'nobody-knows-me' }));
    expect(unknown.status).toBe(401);
    expect(((await unknown.json()) as { error: string }).error).toBe('unknown_write_key');
  });

  it('refuses a browser origin the source does not allow', async () => {
    const response = await post(JSON.stringify({ batch: [event('m-o')] }), { ...auth(), origin: 'https://evil.example' });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: string }).error).toBe('origin_not_allowed');
  });
});

describe("Segment's single-event endpoints", () => {
  interface Stored {
    type: string;
    event: string;
    name: string;
    user_id: string;
    anonymous_id: string;
    group_id: string;
    previous_id: string;
    traits: string;
    properties: string;
  }
  const stored = (id: string) =>
    waitUntil(
      () => collector.db.rows<Stored>(`SELECT type, event, name, user_id, anonymous_id, group_id, previous_id, traits, properties FROM events WHERE message_id = '${id}'`),
      (r) => r.length === 1,
    ).then((r) => r[0]);
  const send = (path: string, body: Record<string, unknown>, headers: Record<string, string> = auth()) =>
    fetch(`${collector.url}/v1/${path}`, { method: 'POST', headers, body: JSON.stringify(body) });

  it.each([
    ['track', { event: 'Order Completed', userId: 'u-1', properties: { revenue: 10 } }, { type: 'track', event: 'Order Completed', user_id: 'u-1', properties: '{"revenue":10}' }],
    ['page', { name: 'Home', anonymousId: 'a-1', properties: { path: '/' } }, { type: 'page', name: 'Home', anonymous_id: 'a-1' }],
    ['screen', { name: 'Cart', userId: 'u-2' }, { type: 'screen', name: 'Cart', user_id: 'u-2' }],
    ['identify', { userId: 'u-3', traits: { email: 'a@b.c' } }, { type: 'identify', user_id: 'u-3', traits: '{"email":"a@b.c"}' }],
    ['alias', { userId: 'u-4', previousId: 'a-4' }, { type: 'alias', user_id: 'u-4', previous_id: 'a-4' }],
    ['group', { userId: 'u-5', groupId: 'g-5', traits: { plan: 'pro' } }, { type: 'group', group_id: 'g-5', traits: '{"plan":"pro"}' }],
  ])('POST /v1/%s stores one event of that type', async (type, fields, expected) => {
    const messageId = `single-${type}`;
    const response = await send(type, { ...fields, messageId });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 1, rejected: [] });
    expect(await stored(messageId)).toMatchObject(expected);
  });

  it('takes the write key and sentAt from the body and does not store the key', async () => {
    const response = await send('track', { event: 'E', anonymousId: 'a', messageId: 'single-body-key', writeKey: collector.source.writeKey, sentAt: new Date().toISOString() }, { 'content-type': 'text/plain' });
    expect(response.status).toBe(200);
    const rows = await waitUntil(() => collector.db.rows<{ context: string; properties: string }>("SELECT context, properties FROM events WHERE message_id = 'single-body-key'"), (r) => r.length === 1);
    expect(JSON.stringify(rows)).not.toContain(collector.source.writeKey);
  });

  it('refuses an invalid single event with 400 naming the reason, and quarantines it', async () => {
    const response = await send('alias', { anonymousId: 'a', messageId: 'single-bad-alias' });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'invalid_event', message: 'alias needs a userId', accepted: 0, rejected: [{ index: 0, reason: 'alias needs a userId' }] });
    await waitUntil(() => collector.db.rows<{ n: number }>("SELECT count() AS n FROM events_quarantine WHERE raw LIKE '%single-bad-alias%'"), (r) => r[0]?.n === 1);
  });

  it('types the event by its path, whatever the body says', async () => {
    await send('screen', { type: 'track', name: 'Home', anonymousId: 'a', messageId: 'single-typed' });
    expect(await stored('single-typed')).toMatchObject({ type: 'screen' });
  });
});

describe('gzip bodies', () => {
  it('inflates a gzip-encoded batch (as server libraries may send it)', async () => {
    const body = gzipSync(JSON.stringify({ batch: [event('gz-1'), event('gz-2')] }));
    const response = await fetch(`${collector.url}/v1/batch`, { method: 'POST', headers: { ...auth(), 'content-encoding': 'gzip' }, body });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 2, rejected: [] });
    await waitUntil(() => collector.db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id IN ('gz-1', 'gz-2')"), (r) => r[0]?.n === 2);
  });
});
