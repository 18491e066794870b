// A known path asked with a method it does not take: 405 with Allow, in the collector's error shape, against a
// real collector. Unknown paths stay 404; HEAD on a GET route and CORS preflights (cors.test.ts) are unchanged.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCollector, type TestCollector } from '../../test/support/collector';

let collector: TestCollector;
let key: string;
beforeAll(async () => {
  collector = await startTestCollector({ container: { version: '1', triggers: [], variables: [], tags: [] } }, { adminToken: 'admin-token-0123456789' });
  key = collector.source.writeKey;
});
afterAll(() => collector?.close());

async function refusedCount(reason: string): Promise<number> {
  const { values } = await collector.metrics.refusedRequests.get();
  return values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** One raw HTTP/1.1 exchange: the status line and head of the answer (fetch refuses some methods, e.g. TRACE). */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(collector.url).port), '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
    socket.end(request);
  });
}

describe('a known path with a method it does not take', () => {
  it.each([
    ['PUT', '/v1/batch', 'POST'],
    ['GET', '/v1/track', 'POST'],
    ['GET', '/v1/b', 'POST'],
    ['PATCH', '/v1/m', 'POST'],
    ['DELETE', '/v1/container/KEY', 'GET, HEAD'],
    ['POST', '/v1/projects/KEY/settings', 'GET, HEAD'],
    ['PUT', '/sourceConfig/', 'GET, HEAD'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['DELETE', '/sdk/tagflow.min.js', 'GET, HEAD'],
    // The query API's routes, registered in a scope of their own (after the others).
    ['GET', '/v1/segments/some-segment', 'DELETE'],
    ['PUT', '/v1/segments', 'GET, HEAD, POST'],
  ])('answers %s %s 405 with Allow: %s, in JSON', async (method, path, allow) => {
    const url = path.replace('KEY', key);
    const response = await fetch(`${collector.url}${url}?p=1`, { method });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe(allow);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toEqual({ error: 'method_not_allowed', message: `${method} is not allowed on ${url}; it takes ${allow}` });
  });

  it('answers HEAD on a POST-only path 405, and HEAD on a GET path as Fastify does (its GET without a body)', async () => {
    const head = await fetch(`${collector.url}/v1/batch`, { method: 'HEAD' });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('POST');
    const ok = await fetch(`${collector.url}/healthz`, { method: 'HEAD' });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('');
  });

  it('refuses before reading the body: a PUT of any type or size gets 405, not 415 or 413', async () => {
    const response = await fetch(`${collector.url}/v1/batch`, { method: 'PUT', headers: { 'content-type': 'application/xml' }, body: 'x'.repeat(600_000) });
    expect(response.status).toBe(405);
    expect(await response.json()).toMatchObject({ error: 'method_not_allowed' });
  });

  it('refuses TRACE and QUERY too (every method the router knows but OPTIONS)', async () => {
    for (const method of ['TRACE', 'QUERY']) {
      const answer = await raw(`${method} /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 405 /);
      expect(answer).toMatch(/\r\nallow: POST\r\n/i);
    }
  });

  it('counts the refusal in tagflow_requests_refused_total{reason="method_not_allowed"}', async () => {
    const before = await refusedCount('method_not_allowed');
    await fetch(`${collector.url}/v1/batch`, { method: 'PUT' });
    expect(await refusedCount('method_not_allowed')).toBe(before + 1);
  });
});

describe('what stays as it was', () => {
  it.each([
    ['PUT', '/nope'],
    ['GET', '/v1/nope'],
    ['DELETE', '/v1/projects/KEY'],
    ['GET', '/v1/container/KEY/extra'],
  ])('an unknown path: %s %s is 404 not_found, without Allow', async (method, path) => {
    const response = await fetch(`${collector.url}${path.replace('KEY', key)}`, { method });
    expect(response.status).toBe(404);
    expect(response.headers.get('allow')).toBeNull();
    expect(await response.json()).toMatchObject({ error: 'not_found' });
  });

  it('the router still refuses a malformed URL (400 invalid_url) and an over-long segment (414), whatever the method', async () => {
    for (const method of ['GET', 'PUT']) {
      const malformed = await raw(`${method} /v1/container/%zz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      expect(malformed).toMatch(/^HTTP\/1\.1 400 /);
      expect(malformed).toContain('"error":"invalid_url"');
      const long = await raw(`${method} /v1/container/${'k'.repeat(5000)} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      expect(long).toMatch(/^HTTP\/1\.1 414 /);
    }
  });

  it('the routes themselves answer as before', async () => {
    expect((await fetch(`${collector.url}/v1/container/${key}`)).status).toBe(200);
    expect((await fetch(`${collector.url}/v1/m`, { method: 'POST', body: '{}', headers: { 'content-type': 'text/plain' } })).status).toBe(204);
  });
});
