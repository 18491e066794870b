// Every way the collector refuses input, against a real collector and ClickHouse: whole requests get a
// 4xx/5xx JSON answer naming the problem; refused events are quarantined with their reason while the
// valid events of the same batch are stored; the server stays up throughout.
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../test/support/clickhouse';
import { startTestCollector, type TestCollector } from '../../test/support/collector';

let collector: TestCollector;
/** A second collector with tiny limits: a source allowed 3 requests, an 8 KB spool, a 1 s body deadline. */
let strict: TestCollector;
/** A third behind a trusted proxy (127.0.0.1), so X-Forwarded-For names the client; the same tiny rate limit. */
let proxied: TestCollector;
const limitedKey = 'limited-write-key';
const adminToken = 'admin-token-0123456789';
beforeAll(async () => {
  const sources = [
    { id: 'test-source', writeKey: 'test-write-key', allowedOrigins: [], keepFullIp: false },
    { id: 'limited', writeKey: limitedKey, allowedOrigins: [], keepFullIp: false, rateLimit: { requestsPerSecond: 0.01, burst: 3 } },
  ];
  [collector, strict, proxied] = await Promise.all([
    startTestCollector({}, { adminToken }),
    startTestCollector({}, { sources, spool: { maxBytes: 8192 }, limits: { bodyTimeoutSeconds: 1 } }),
    startTestCollector({}, { sources, trustedProxies: ['127.0.0.1'] }),
  ]);
});
afterAll(() => Promise.all([collector?.close(), strict?.close(), proxied?.close()]));

const scrape = async (target: TestCollector) => (await fetch(`${target.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
const headers = (extra: Record<string, string> = {}) => ({ 'content-type': 'application/json', authorization: basic('test-write-key'), ...extra });
const post = (target: TestCollector, body: string | Uint8Array<ArrayBuffer>, extra: Record<string, string> = {}, path = '/v1/batch') =>
  fetch(`${target.url}${path}`, { method: 'POST', headers: headers(extra), body });
const track = (messageId: string, extra: Record<string, unknown> = {}) => ({ type: 'track', event: 'E', anonymousId: 'a', messageId, ...extra });

async function expectError(response: Response, status: number, code: string): Promise<{ error: string; message: string }> {
  expect(response.status).toBe(status);
  const body = (await response.json()) as { error: string; message: string };
  expect(body.error).toBe(code);
  expect(body.message.length).toBeGreaterThan(10);
  return body;
}

describe('requests refused as a whole', () => {
  it('refuses a body over 500 KB with 413 and a message naming the limit', async () => {
    const body = JSON.stringify({ batch: [track('big', { properties: { blob: 'x'.repeat(600 * 1024) } })] });
    const refused = await expectError(await post(collector, body), 413, 'body_too_large');
    expect(refused.message).toContain('512000 bytes');
  });

  it('refuses a gzip body that inflates past 500 KB (a gzip bomb) with 413', async () => {
    const body = new Uint8Array(gzipSync(JSON.stringify({ batch: [track('bomb', { properties: { blob: '0'.repeat(5 * 1024 * 1024) } })] })));
    expect(body.length).toBeLessThan(20 * 1024);
    await expectError(await post(collector, body, { 'content-encoding': 'gzip' }), 413, 'body_too_large');
  });

  it('refuses a body declared gzip that is not with 400', async () => {
    await expectError(await post(collector, JSON.stringify({ batch: [track('nz')] }), { 'content-encoding': 'gzip' }), 400, 'invalid_gzip');
  });

  it('refuses encodings other than gzip with 415', async () => {
    await expectError(await post(collector, 'xx', { 'content-encoding': 'br' }), 415, 'unsupported_encoding');
  });

  it('refuses media types other than JSON and text/plain with 415', async () => {
    const refused = await expectError(await post(collector, '<batch/>', { 'content-type': 'application/xml' }), 415, 'unsupported_media_type');
    expect(refused.message).toBe('Content-Type application/xml is not read here: send the body as application/json or text/plain (JSON either way)');
  });

  it('refuses more than 2,500 events in one batch', async () => {
    const batch = Array.from({ length: 2501 }, () => ({}));
    await expectError(await post(collector, JSON.stringify({ batch })), 400, 'too_many_events');
  });

  it('refuses JSON nested far too deeply for any parser with a 4xx and stays up', async () => {
    const deep = `{"batch":[{"type":"track","event":"E","anonymousId":"a","properties":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}]}`;
    const response = await post(collector, deep);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect((await fetch(`${collector.url}/healthz`)).status).toBe(200);
  });

  it('refuses a malformed percent-escape in the URL in the collector\'s JSON shape, and counts it', async () => {
    await expectError(await fetch(`${collector.url}/v1/container/%E0%A4%A`), 400, 'invalid_url');
    const metrics = await scrape(collector);
    expect(metrics).toMatch(/tagflow_requests_refused_total\{reason="invalid_url"\} [1-9]/);
  });

  it('counts an unknown write key in the metrics', async () => {
    await expectError(await post(collector, JSON.stringify({ batch: [track('k')] }), { authorization: basic('no-such-key') }), 401, 'unknown_write_key');
    const metrics = await scrape(collector);
    expect(metrics).toMatch(/tagflow_requests_refused_total\{reason="unknown_write_key"\} [1-9]/);
  });

  it('refuses a request whose header and body write keys differ, and accepts them when they agree', async () => {
    const body = (writeKey: string) => JSON.stringify({ batch: [track(`wk-${writeKey}`)], writeKey });
    await expectError(await post(collector, body('other-key')), 400, 'conflicting_write_keys');
    expect((await post(collector, body('test-write-key'))).status).toBe(200);
  });

  it('answers 429 with Retry-After once a source passes its rate limit', async () => {
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 5 && !limited; i++) {
      const response = await post(strict, JSON.stringify({ batch: [track(`rl-${i}`)] }), { authorization: basic(limitedKey) });
      statuses.push(response.status);
      if (response.status === 429) limited = response;
      else await response.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await expectError(limited as Response, 429, 'rate_limited');
    // The same bucket whether the key comes in the Authorization header or in the body.
    const bodyKey = await fetch(`${strict.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ batch: [track('rl-body')], writeKey: limitedKey }) });
    await expectError(bodyKey, 429, 'rate_limited');
  });

  it('keeps a bucket per source and client: a client over the limit does not stop another one of the same source', async () => {
    const from = (client: string, messageId: string) => post(proxied, JSON.stringify({ batch: [track(messageId)] }), { authorization: basic(limitedKey), 'x-forwarded-for': client });
    for (let i = 0; i < 3; i++) expect((await from('203.0.113.7', `pc-a-${i}`)).status).toBe(200);
    await expectError(await from('203.0.113.7', 'pc-a-3'), 429, 'rate_limited');
    expect((await from('203.0.113.8', 'pc-b-0')).status).toBe(200);
    // Through the body key as well (sendBeacon), the bucket is the client's.
    const beacon = await fetch(`${proxied.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'text/plain', 'x-forwarded-for': '203.0.113.7' }, body: JSON.stringify({ batch: [track('pc-a-beacon')], writeKey: limitedKey }) });
    await expectError(beacon, 429, 'rate_limited');
  });

  it('keeps one bucket per IPv6 /64, so a client cannot escape its limit by changing the host part', async () => {
    const from = (client: string, messageId: string) => post(proxied, JSON.stringify({ batch: [track(messageId)] }), { authorization: basic(limitedKey), 'x-forwarded-for': client });
    for (let i = 1; i <= 3; i++) expect((await from(`2001:db8:0:1::${i}`, `pc-v6-${i}`)).status).toBe(200);
    await expectError(await from('2001:db8:0:1:ffff:ffff:ffff:9', 'pc-v6-4'), 429, 'rate_limited');
    expect((await from('2001:db8:0:2::1', 'pc-v6-other')).status).toBe(200);
  });

  it('answers 503 with Retry-After when the spool is over its byte cap', async () => {
    // The strict collector's spool holds 8 KB: a 10 KB request cannot fit whatever the shipper does.
    const response = await fetch(`${strict.url}/v1/track`, {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify(track('too-big-for-spool', { properties: { pad: 'p'.repeat(10 * 1024) } })),
    });
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await expectError(response, 503, 'spool_full');
  });

  it('answers 408 in JSON when the body does not arrive in time', async () => {
    const port = Number(new URL(strict.url).port);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write('POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"batch":');
      });
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(answer).toContain('"error":"body_timeout"');
  });
});

/** One HTTP exchange on a fresh connection, as written; resolves with the answer once the server closes it. */
function exchange(target: TestCollector, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(target.url).port), '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The first response of a raw HTTP answer (`Content-Length` bodies only, as every error answer has one). */
function firstAnswer(text: string): RawAnswer {
  const end = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  const length = Number(headers['content-length'] ?? 0);
  return { status: Number(statusLine.split(' ')[1]), headers, body: Buffer.from(text.slice(end + 4)).subarray(0, length).toString() };
}

/** The collector's error shape: JSON with exactly `error` (the code) and `message` (a sentence). */
function expectShape(answer: RawAnswer, status: number, code: string): string {
  expect({ status: answer.status, type: answer.headers['content-type'] }).toEqual({ status, type: 'application/json; charset=utf-8' });
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  expect(body.error).toBe(code);
  expect(String(body.message).length).toBeGreaterThan(10);
  return String(body.message);
}

describe("what Node's HTTP parser or Fastify would answer in their own shape", () => {
  const post = (headers: string, body = '{}') => `POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}Connection: close\r\n\r\n${body}`;

  it.each([
    ['a Content-Length that is not a number', post('Content-Length: abc\r\n'), 400, 'invalid_content_length'],
    ['two different Content-Lengths', post('Content-Length: 2\r\nContent-Length: 3\r\n'), 400, 'invalid_content_length'],
    ['Content-Length with Transfer-Encoding: chunked', post('Content-Length: 2\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400, 'invalid_transfer_encoding'],
    ['a broken chunked body', post('Transfer-Encoding: chunked\r\n', 'zz\r\n'), 400, 'invalid_transfer_encoding'],
    ['a method HTTP does not define', 'BREW /v1/batch HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400, 'invalid_method'],
    ['a request line that is not HTTP', 'GET /healthz HTTX/1.1\r\nHost: x\r\n\r\n', 400, 'malformed_request'],
    ['a header line without a colon', 'GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n', 400, 'malformed_request'],
    ['headers over 16 KB', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(20_000)}\r\nConnection: close\r\n\r\n`, 431, 'headers_too_large'],
    ['an HTTP/1.1 request without Host', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', 400, 'missing_host'],
    ['an Expect other than 100-continue', post('Content-Length: 2\r\nExpect: teapot\r\n'), 417, 'expectation_failed'],
    ['a path segment longer than the router takes', `GET /v1/container/${'k'.repeat(5000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 414, 'url_too_long'],
    ['an unknown route', 'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404, 'not_found'],
    ['a method a route does not take (with Allow: POST, see method-not-allowed.test.ts)', 'PUT /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', 405, 'method_not_allowed'],
    ['malformed JSON', post('Content-Length: 5\r\n', '{"a":'), 400, 'invalid_json'],
    ['a body over the limit, by its Content-Length', post('Content-Length: 600000\r\n', ''), 413, 'body_too_large'],
  ])('%s', async (_label, request, status, code) => {
    const message = expectShape(firstAnswer(await exchange(collector, request)), status, code);
    // A sentence of the collector's, not an echo of the request.
    expect(message.length).toBeLessThan(300);
  });

  it('counts what the HTTP parser refuses in tagflow_requests_refused_total', async () => {
    await exchange(collector, post('Content-Length: abc\r\n'));
    const metrics = await scrape(collector);
    expect(metrics).toMatch(/tagflow_requests_refused_total\{reason="invalid_content_length"\} [1-9]/);
  });

  it('serves a write key longer than 100 characters its container (the router took at most 100)', async () => {
    const longKey = `long-${'k'.repeat(150)}`;
    const target = await startTestCollector({ writeKey: longKey, container: { version: '1', triggers: [], variables: [], tags: [] } });
    try {
      expect((await fetch(`${target.url}/v1/container/${longKey}`)).status).toBe(200);
    } finally {
      await target.close();
    }
  });

  it('answers 503 shutting_down with Retry-After to a request that arrives while the collector stops', async () => {
    const stopping = await startTestCollector();
    const body = JSON.stringify({ batch: [track('before-stop')], writeKey: stopping.source.writeKey });
    const socket = connect(Number(new URL(stopping.url).port), '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    // Expect: 100-continue: the server answers "100 Continue" once it has taken the request in, so the
    // request is in flight (not an idle connection the close would drop) when the collector starts to stop.
    socket.write(`POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    await waitUntil(async () => text, (t) => t.includes('100 Continue'));
    const stopped = stopping.app.close();
    await waitUntil(async () => stopping.app.server.listening, (listening) => !listening);
    // The rest of the first request, and a second one pipelined behind it.
    socket.write(`${body}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
    await closed;
    await stopped;
    await stopping.db.drop();
    const answers = text.slice(text.indexOf('\r\n\r\n') + 4);
    expect(firstAnswer(answers).status).toBe(200);
    const second = firstAnswer(answers.slice(answers.indexOf('HTTP/1.1', 1)));
    expectShape(second, 503, 'shutting_down');
    expect(Number(second.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });
});

describe('a write key in the body', () => {
  it.each([
    [123, 'a number'],
    [true, 'a boolean'],
    [['test-write-key'], 'an array'],
    [{ key: 'test-write-key' }, 'an object'],
  ])('refuses %j as an invalid write key, naming its type', async (writeKey, kind) => {
    const response = await fetch(`${collector.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ batch: [track('wk-type')], writeKey }) });
    const refused = await expectError(response, 400, 'invalid_write_key');
    expect(refused.message).toContain(kind);
    const single = await fetch(`${collector.url}/v1/track`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ ...track('wk-type-single'), writeKey }) });
    expect((await expectError(single, 400, 'invalid_write_key')).message).toContain(kind);
  });
});

describe('events refused one by one', () => {
  const day = 86_400_000;
  const cases: Array<[string, unknown, string]> = [
    ['not an object', 42, 'event must be a JSON object'],
    ['an unknown type', { type: 'purchase', anonymousId: 'a' }, 'type must be one of track, page, screen, identify, alias, group'],
    ['no type', { event: 'E', anonymousId: 'a' }, 'type must be one of'],
    ['no ids', { type: 'track', event: 'E' }, 'anonymousId or userId is required'],
    ['a track without an event name', { type: 'track', anonymousId: 'a' }, 'track needs an event name'],
    ['an empty event name', { type: 'track', event: '', anonymousId: 'a' }, 'track needs an event name'],
    ['an alias without userId', { type: 'alias', anonymousId: 'a', previousId: 'p' }, 'alias needs a userId'],
    ['a group without groupId', { type: 'group', anonymousId: 'a' }, 'group needs a groupId'],
    ['properties of the wrong type', { type: 'track', event: 'E', anonymousId: 'a', properties: 'x' }, 'properties must be an object'],
    ['an id of the wrong type', { type: 'page', anonymousId: ['a'] }, 'anonymousId must be a string'],
    ['an id over 100 characters', { type: 'page', anonymousId: 'a', messageId: 'm'.repeat(101) }, 'messageId is longer than 100 characters'],
    ['a timestamp that is not a date', { type: 'page', anonymousId: 'a', timestamp: 'yesterday' }, 'timestamp is not an ISO-8601 date'],
    ['a timestamp days in the future', { type: 'page', anonymousId: 'a', timestamp: new Date(Date.now() + 3 * day).toISOString() }, 'timestamp is more than 86400 seconds in the future'],
    ['a timestamp over a year old', { type: 'page', anonymousId: 'a', timestamp: new Date(Date.now() - 400 * day).toISOString() }, 'timestamp is more than 365 days in the past'],
    ['a timestamp before 2000', { type: 'page', anonymousId: 'a', timestamp: '1969-07-20T20:17:00Z' }, 'timestamp is outside the years 2000 to 2099'],
    ['an event over 32 KB', { type: 'track', event: 'E', anonymousId: 'a', properties: { blob: 'x'.repeat(33 * 1024) } }, 'at most 32768 bytes (32 KB) are allowed'],
    ['nesting deeper than 32 levels', { type: 'track', event: 'E', anonymousId: 'a', properties: JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`) }, 'event is nested deeper than 32 levels'],
  ];

  it('stores the valid events of a batch and quarantines each invalid one with its reason', async () => {
    const batch = [track('valid-before'), ...cases.map(([, raw]) => raw), track('valid-after')];
    const response = await post(collector, JSON.stringify({ batch }));
    expect(response.status).toBe(200);
    const reply = (await response.json()) as { accepted: number; rejected: Array<{ index: number; reason: string }> };
    expect(reply.accepted).toBe(2);
    expect(reply.rejected.map((r) => r.index)).toEqual(cases.map((_, i) => i + 1));
    cases.forEach(([label, , reason], i) => expect(reply.rejected[i]?.reason, label).toContain(reason));

    const stored = await waitUntil(() => collector.db.rows<{ message_id: string }>("SELECT message_id FROM events WHERE message_id LIKE 'valid-%' ORDER BY message_id"), (r) => r.length === 2);
    expect(stored.map((r) => r.message_id)).toEqual(['valid-after', 'valid-before']);
    const quarantined = await waitUntil(
      () => collector.db.rows<{ reason: string; raw: string; source: string }>('SELECT reason, raw, source FROM events_quarantine'),
      (r) => r.length >= cases.length,
    );
    for (const [label, raw, reason] of cases) {
      const row = quarantined.find((q) => q.reason.includes(reason) && q.raw === JSON.stringify(raw));
      expect(row, label).toMatchObject({ source: 'test-source' });
    }
  });

  it('answers 400 no_valid_events when every event is refused, and counts the reasons', async () => {
    const response = await post(collector, JSON.stringify({ batch: [{ type: 'track', anonymousId: 'a' }] }));
    await expectError(response, 400, 'no_valid_events');
    const metrics = await scrape(collector);
    expect(metrics).toMatch(/tagflow_events_rejected_total\{source="test-source",reason="missing_field"\} [1-9]/);
    expect(metrics).toMatch(/tagflow_events_rejected_total\{source="test-source",reason="timestamp_in_future"\} 1/);
  });
});

describe('the event size limit under gzip', () => {
  it('still refuses an event over 32 KB when the gzip body is small', async () => {
    const body = new Uint8Array(gzipSync(JSON.stringify({ batch: [track('gz-big', { properties: { blob: 'z'.repeat(40 * 1024) } }), track('gz-small')] })));
    expect(body.length).toBeLessThan(32 * 1024);
    const response = await post(collector, body, { 'content-encoding': 'gzip' });
    expect(response.status).toBe(200);
    const reply = (await response.json()) as { accepted: number; rejected: Array<{ index: number; reason: string }> };
    expect(reply.accepted).toBe(1);
    expect(reply.rejected).toEqual([{ index: 0, reason: expect.stringContaining('at most 32768 bytes') }]);
  });
});
