// What one request can make the collector store, against a real collector and ClickHouse: the batch
// context copied into every event, numbers that grow when written again, refused events in the
// quarantine (their IP, their ids) and a request's spool writes at the cap.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../test/support/clickhouse';
import { startTestCollector, type TestCollector } from '../../test/support/collector';

let collector: TestCollector;
/** A spool capped at 8 KB, for requests that do not fit. */
let tiny: TestCollector;
beforeAll(async () => {
  [collector, tiny] = await Promise.all([startTestCollector(), startTestCollector({}, { spool: { maxBytes: 8192 } })]);
});
afterAll(() => Promise.all([collector?.close(), tiny?.close()]));

const basic = `Basic ${Buffer.from('test-write-key:').toString('base64')}`;
const post = (target: TestCollector, body: string | Uint8Array<ArrayBuffer>, gzip = false) =>
  fetch(`${target.url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basic, ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
    body,
  });
const gzipped = (json: string) => new Uint8Array(gzipSync(json));

interface Reply {
  accepted?: number;
  rejected?: Array<{ index: number; reason: string }>;
  error?: string;
  message?: string;
}

/**
 * Sends a marker event and waits until ClickHouse has it: the spool is shipped in order, so whatever an
 * earlier request spooled is in ClickHouse by then (and what is not there was never spooled).
 */
async function drained(target: TestCollector, marker: string): Promise<void> {
  const response = await post(target, JSON.stringify({ batch: [{ type: 'track', event: 'marker', anonymousId: 'm', messageId: marker }] }));
  expect(response.status).toBe(200);
  await waitUntil(() => target.db.rows<{ n: number }>(`SELECT count() AS n FROM events WHERE message_id = '${marker}'`), (r) => r[0]?.n === 1);
}

describe('the batch-level context', () => {
  it('refuses a small gzip body whose context, copied into each event, would store megabytes (413)', async () => {
    const json = JSON.stringify({ context: { pad: 'x'.repeat(31_000) }, batch: Array.from({ length: 2000 }, () => ({ type: 'page', anonymousId: 'ctx-amp' })) });
    const body = gzipped(json);
    expect(body.length).toBeLessThan(1000);
    const response = await post(collector, body, true);
    const reply = (await response.json()) as Reply;
    expect(response.status).toBe(413);
    expect(reply.error).toBe('body_too_large');
    expect(reply.message).toMatch(/batch context \(31,010 bytes\) copied into each of the 2,000 events adds 62,020,000 bytes/);
    await drained(collector, 'marker-ctx-amp');
    const stored = await collector.db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE anonymous_id = 'ctx-amp'");
    expect(stored[0]?.n).toBe(0);
  });

  it('answers a request that can never fit with a 4xx, not a retryable 503 spool_full', async () => {
    const json = JSON.stringify({ context: { pad: 'y'.repeat(31_000) }, batch: Array.from({ length: 2500 }, () => ({ type: 'page', anonymousId: 'ctx-amp2' })) });
    const response = await post(collector, gzipped(json), true);
    const reply = (await response.json()) as Reply;
    expect(response.status).toBe(413);
    expect(reply.error).toBe('body_too_large');
  });

  it('refuses a context larger than one event at once, without walking it for every event', async () => {
    const context = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, { v: i }]));
    const json = JSON.stringify({ context, batch: Array.from({ length: 2500 }, () => ({ type: 'page', anonymousId: 'ctx-keys' })) });
    expect(json.length).toBeLessThan(500 * 1024);
    const started = performance.now();
    const response = await post(collector, json);
    const elapsedMs = performance.now() - started;
    const reply = (await response.json()) as Reply;
    expect(response.status).toBe(400);
    expect(reply.error).toBe('context_too_large');
    expect(reply.message).toMatch(/^the batch context is [\d,]+ bytes; it is copied into every event, so at most 32,768 bytes/);
    // It took tens of seconds of blocked event loop when the context was spread and serialised per event.
    expect(elapsedMs).toBeLessThan(5000);
  }, 120_000);

  it('stores a Segment-style batch context (a few hundred bytes) under each of hundreds of events', async () => {
    const context = { library: { name: 'analytics-go', version: '3.3.0' }, app: { name: 'pos', version: '2.1.0' }, note: 'n'.repeat(200) };
    const batch = Array.from({ length: 250 }, (_, i) => ({ type: 'track', event: 'Sold', anonymousId: 'ctx-go', messageId: `ctx-go-${i}`, ...(i === 0 ? { context: { locale: 'de' } } : {}) }));
    const response = await post(collector, JSON.stringify({ context, batch }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 250, rejected: [] });
    const rows = await waitUntil(
      () => collector.db.rows<{ message_id: string; context: string }>("SELECT message_id, context FROM events WHERE anonymous_id = 'ctx-go' AND message_id IN ('ctx-go-0', 'ctx-go-249') ORDER BY message_id"),
      (r) => r.length === 2,
    );
    expect(rows.map((row) => JSON.parse(row.context) as unknown)).toEqual([{ ...context, locale: 'de' }, context]);
  });
});

describe('the event size limit', () => {
  it('holds for the event as stored, also when its request body is smaller than the limit', async () => {
    // `1e20` (4 bytes) is stored as `100000000000000000000` (21 bytes): a 30 KB body made a 132 KB event.
    const body = `{"batch":[{"type":"track","event":"expand","anonymousId":"a","messageId":"expand-1","properties":{"n":[${Array(6000).fill('1e20').join(',')}]}}]}`;
    expect(body.length).toBeLessThan(32 * 1024);
    const response = await post(collector, body);
    const reply = (await response.json()) as Reply;
    expect(response.status).toBe(400);
    expect(reply.error).toBe('no_valid_events');
    expect(reply.rejected?.[0]?.reason).toMatch(/^event is 132,?\d{3} bytes; at most 32768 bytes/);
  });
});

describe('refused events in the quarantine', () => {
  it('keeps context.ip anonymised, as accepted events store it', async () => {
    const batch = [
      { type: 'track', anonymousId: 'ip-a', messageId: 'ip-refused', context: { ip: '203.0.113.77' } }, // no event name: refused
      { type: 'track', event: 'ok', anonymousId: 'ip-a', messageId: 'ip-accepted', context: { ip: '203.0.113.77' } },
    ];
    const response = await post(collector, JSON.stringify({ batch }));
    expect(response.status).toBe(200);
    const [accepted] = await waitUntil(() => collector.db.rows<{ context: string }>("SELECT context FROM events WHERE message_id = 'ip-accepted'"), (r) => r.length === 1);
    expect(accepted?.context).toBe('{"ip":"203.0.113.0"}');
    const [quarantined] = await waitUntil(() => collector.db.rows<{ raw: string }>("SELECT raw FROM events_quarantine WHERE raw LIKE '%ip-refused%'"), (r) => r.length === 1);
    expect(JSON.parse(quarantined?.raw ?? '{}')).toEqual({ type: 'track', anonymousId: 'ip-a', messageId: 'ip-refused', context: { ip: '203.0.113.0' } });
  });

  it('refuses numeric ids past 2^53 rather than merge two users into one', async () => {
    // JSON.parse reads both ids as 12345678901234567000.
    const body = '{"batch":[{"type":"track","event":"big","userId":12345678901234567891,"messageId":"big-1"},{"type":"track","event":"big","userId":12345678901234567892,"messageId":"big-2"},{"type":"track","event":"big","userId":9007199254740991,"messageId":"big-safe"}]}';
    const response = await post(collector, body);
    expect(response.status).toBe(200);
    const reason = 'userId is a number that is not a safe integer (a whole number of at most 9007199254740991), so it cannot be read exactly; send it as a string';
    expect(await response.json()).toEqual({ accepted: 1, rejected: [{ index: 0, reason }, { index: 1, reason }] });
    const rows = await waitUntil(() => collector.db.rows<{ user_id: string }>("SELECT user_id FROM events WHERE event = 'big'"), (r) => r.length === 1);
    expect(rows).toEqual([{ user_id: '9007199254740991' }]);
  });
});

describe('the spool cap reached by part of a request', () => {
  it('spools none of the request on 503, so a retry does not quarantine its refused events again', async () => {
    // gzip passes the Content-Length check made before the body is read; the quarantine rows alone fit
    // the 8 KB spool, the events do not.
    const batch = [
      { type: 'track', anonymousId: 'a', messageId: 'half-refused' },
      ...Array.from({ length: 20 }, (_, i) => ({ type: 'track', event: 'E', anonymousId: 'a', messageId: `half-${i}`, properties: { pad: 'p'.repeat(500) } })),
    ];
    const body = gzipped(JSON.stringify({ batch }));
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await post(tiny, body, true);
      statuses.push(response.status);
      expect(((await response.json()) as Reply).error).toBe('spool_full');
    }
    expect(statuses).toEqual([503, 503, 503]);
    await drained(tiny, 'marker-half');
    const quarantined = await tiny.db.rows<{ n: number }>("SELECT count() AS n FROM events_quarantine WHERE raw LIKE '%half-refused%'");
    expect(quarantined[0]?.n).toBe(0);
  });
});
