// POST /v1/batch against a real collector and a real ClickHouse.
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
