// CORS as a browser on a configured origin sees it.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../test/support/clickhouse';
import { startTestCollector, type TestCollector } from '../../test/support/collector';
import { corsPolicy } from './cors';

/** The status, headers (lower-case names) and body of the first HTTP answer in `text`. */
function firstAnswer(text: string): { status: number; headers: Record<string, string>; body: string } {
  const end = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  const length = Number(headers['content-length'] ?? 0);
  return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(end + 4, end + 4 + length) };
}

/** Sends `request` as written on a fresh connection and returns everything answered until the server closes it. */
function exchange(target: TestCollector, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(target.url).port), '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.write(request);
  });
}

let collector: TestCollector;
beforeAll(async () => {
  collector = await startTestCollector({ allowedOrigins: ['https://shop.example'] });
});
afterAll(() => collector.close());

describe('CORS', () => {
  it('allows a configured origin and lets it read Retry-After', async () => {
    const response = await fetch(`${collector.url}/v1/batch`, {
      method: 'POST',
      headers: { origin: 'https://shop.example', 'content-type': 'text/plain' },
      body: JSON.stringify({ writeKey: collector.source.writeKey, batch: [{ type: 'page', anonymousId: 'a', messageId: 'cors-1' }] }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect(response.headers.get('access-control-expose-headers')).toBe('Retry-After');
  });

  it('answers a preflight from a configured origin', async () => {
    const response = await fetch(`${collector.url}/v1/batch`, { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' } });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect(response.headers.get('access-control-allow-methods')).toBe('GET, POST');
  });

  it.each([
    ['POST', '/v1/batch'],
    ['POST', '/v1/t'],
    ['POST', '/v1/track'],
    ['GET', '/v1/projects/KEY/settings'],
    ['GET', '/sourceConfig/?writeKey=KEY'],
    ['GET', '/v1/container/KEY'],
    ['GET', '/sdk/tagflow.min.js'],
    // A method the path does not take, and a path there is not: the preflight is answered all the same (the
    // browser then finds the method missing from Access-Control-Allow-Methods, or gets the 404).
    ['PUT', '/v1/batch'],
    ['GET', '/nope'],
  ])('answers a preflight for %s %s (405 answers never hide the CORS route)', async (method, path) => {
    const response = await fetch(`${collector.url}${path.replace('KEY', collector.source.writeKey)}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect(response.headers.get('allow')).toBeNull();
  });

  it('gives an unconfigured origin no CORS grant, and says why in JSON (403 origin_not_allowed)', async () => {
    const response = await fetch(`${collector.url}/v1/batch`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ error: 'origin_not_allowed', message: 'origin https://evil.example is not allowed by any source' });
  });

  it('gives the 403 refusal of a preflight Vary: Origin (another origin is answered otherwise)', async () => {
    const response = await fetch(`${collector.url}/v1/batch`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(response.status).toBe(403);
    expect((response.headers.get('vary') ?? '').split(',').map((name) => name.trim().toLowerCase())).toContain('origin');
  });

  it('says Vary: Origin on answers to an origin without a grant, and without an Origin, so no cache hands them to a granted one', async () => {
    // The container is cached (no-cache: stored, revalidated by ETag): a copy stored for another site's page (no
    // grant, so no Access-Control-Allow-Origin) must not be given to the shop's page, whose fetch would then fail.
    const url = `${collector.url}/v1/container/${encodeURIComponent(collector.source.writeKey)}`;
    const varies = (response: Response) => (response.headers.get('vary') ?? '').split(',').map((name) => name.trim().toLowerCase());
    for (const headers of [{ origin: 'https://evil.example' }, {} as Record<string, string>]) {
      const response = await fetch(url, { headers });
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      expect(varies(response)).toEqual(['origin']);
    }
    const granted = await fetch(url, { headers: { origin: 'https://shop.example' } });
    expect(granted.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect(varies(granted)).toEqual(['origin']);
  });

  it('lets a configured origin read the 400 missing_host answered before routing', async () => {
    const answer = firstAnswer(await exchange(collector, 'POST /v1/batch HTTP/1.1\r\nOrigin: https://shop.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'missing_host' });
    expect(answer.headers['access-control-allow-origin']).toBe('https://shop.example');
  });

  it('lets a configured origin read the 503 shutting_down of a stopping collector, and its Retry-After', async () => {
    const stopping = await startTestCollector({ allowedOrigins: ['https://shop.example'] });
    const body = JSON.stringify({ batch: [{ type: 'page', anonymousId: 'a', messageId: 'cors-stop' }], writeKey: stopping.source.writeKey });
    const socket = connect(Number(new URL(stopping.url).port), '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    // Expect: 100-continue keeps the first request in flight (not an idle connection the close would drop) while
    // the collector starts to stop; the second, pipelined behind it, arrives while it stops.
    socket.write(`POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    await waitUntil(async () => text, (t) => t.includes('100 Continue'));
    const stopped = stopping.app.close();
    await waitUntil(async () => stopping.app.server.listening, (listening) => !listening);
    socket.write(`${body}POST /v1/batch HTTP/1.1\r\nHost: x\r\nOrigin: https://shop.example\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await closed;
    await stopped;
    await stopping.db.drop();
    const answers = text.slice(text.indexOf('\r\n\r\n') + 4);
    expect(firstAnswer(answers).status).toBe(200);
    const refused = firstAnswer(answers.slice(answers.indexOf('HTTP/1.1', 1)));
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'shutting_down' });
    expect(refused.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(refused.headers['access-control-expose-headers']).toBe('Retry-After');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('refuses an OPTIONS that is not a preflight (no Origin or no requested method) in JSON', async () => {
    const notPreflights: Record<string, string>[] = [{}, { origin: 'https://shop.example' }, { 'access-control-request-method': 'POST' }];
    for (const headers of notPreflights) {
      const response = await fetch(`${collector.url}/v1/batch`, { method: 'OPTIONS', headers });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.json()).toMatchObject({ error: 'invalid_preflight' });
    }
  });
});

describe('CORS for a browser admin tool (adminOrigins) on the query API', () => {
  const adminToken = 'admin-token-0123456789';
  const admin = 'https://admin.example';
  const shop = 'https://shop.example';
  let target: TestCollector;
  beforeAll(async () => {
    target = await startTestCollector({ allowedOrigins: [shop] }, { adminToken, adminOrigins: [admin] });
  });
  afterAll(() => target.close());

  const preflight = (path: string, origin: string, method: string) =>
    fetch(`${target.url}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' } });
  const call = (path: string, origin: string, init: RequestInit = {}) =>
    fetch(`${target.url}${path}`, { ...init, headers: { origin, authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) } });
  const listedIn = (header: string | null) => (header ?? '').split(',').map((name) => name.trim().toLowerCase());

  it.each([
    ['DELETE', '/v1/segments/some-id'],
    ['PUT', '/v1/currency-rates'],
    ['DELETE', '/v1/currency-rates'],
    ['POST', '/v1/query/funnel'],
    ['POST', '/v1/segments'],
    ['GET', '/v1/segments/some-id/export?format=vk'],
    ['POST', '/v1/erasures'],
    ['GET', '/v1/erasures/some-id'],
  ])('answers an admin origin a preflight for %s %s with the query API methods and the Authorization header', async (method, path) => {
    const response = await preflight(path, admin, method);
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(admin);
    expect(listedIn(response.headers.get('access-control-allow-methods'))).toEqual(expect.arrayContaining(['get', 'post', 'put', 'delete']));
    expect(listedIn(response.headers.get('access-control-allow-headers'))).toContain('authorization');
  });

  it("lets an admin origin load rates and read an export's file name and counts", async () => {
    const loaded = await call('/v1/currency-rates', admin, { method: 'PUT', body: JSON.stringify({ reportingCurrency: 'USD', rates: [{ currency: 'EUR', day: '2026-11-02', rate: 1.08 }] }) });
    expect(loaded.status).toBe(200);
    expect(loaded.headers.get('access-control-allow-origin')).toBe(admin);

    const created = await call('/v1/segments', admin, { method: 'POST', body: JSON.stringify({ name: 'contacts', rule: { trait: 'email', op: 'exists' } }) });
    const { id } = (await created.json()) as { id: string };
    await call(`/v1/segments/${id}/materialize`, admin, { method: 'POST' });
    const exported = await call(`/v1/segments/${id}/export?format=vk`, admin);
    expect(exported.status).toBe(200);
    expect(exported.headers.get('access-control-allow-origin')).toBe(admin);
    const fileHeaders = [...exported.headers.keys()].filter((name) => name === 'content-disposition' || name.startsWith('x-tagflow-'));
    expect(fileHeaders.length).toBeGreaterThan(1);
    expect(listedIn(exported.headers.get('access-control-expose-headers'))).toEqual(expect.arrayContaining([...fileHeaders, 'retry-after']));
    expect((await call(`/v1/segments/${id}`, admin, { method: 'DELETE' })).headers.get('access-control-allow-origin')).toBe(admin);
  });

  it('gives an admin origin nothing more on the SDK paths', async () => {
    const refused = await preflight('/v1/batch', admin, 'POST');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect(await refused.json()).toEqual({ error: 'origin_not_allowed', message: `origin ${admin} is not allowed by any source` });
    const sent = await fetch(`${target.url}/v1/batch`, { method: 'POST', headers: { origin: admin, 'content-type': 'text/plain' }, body: JSON.stringify({ writeKey: target.source.writeKey, batch: [{ type: 'page', anonymousId: 'a' }] }) });
    expect(sent.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("keeps a source's origin to GET and POST on the query API, and the SDK's headers", async () => {
    for (const method of ['DELETE', 'PUT']) {
      const response = await preflight('/v1/currency-rates', shop, method);
      expect(response.status).toBe(204);
      expect(response.headers.get('access-control-allow-methods')).toBe('GET, POST');
    }
    const listed = await call('/v1/segments', shop);
    expect(listed.headers.get('access-control-expose-headers')).toBe('Retry-After');
    const sdk = await preflight('/v1/batch', shop, 'POST');
    expect(sdk.headers.get('access-control-allow-methods')).toBe('GET, POST');
  });

  it('refuses an origin in neither list on the query API in JSON, naming adminOrigins', async () => {
    const response = await preflight('/v1/segments', 'https://evil.example', 'GET');
    expect(response.status).toBe(403);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(await response.json()).toEqual({ error: 'origin_not_allowed', message: 'origin https://evil.example is not in adminOrigins and not allowed by any source' });
  });

  it('grants an admin origin the query API at the path Fastify routes, percent-escapes decoded', async () => {
    const answered = await preflight('/v1/%73egments/some-id', admin, 'DELETE');
    expect(answered.status).toBe(204);
    expect(answered.headers.get('access-control-allow-origin')).toBe(admin);
    expect(listedIn(answered.headers.get('access-control-allow-methods'))).toContain('delete');
    const listed = await call('/v1/%73egments', admin);
    expect(listed.status).toBe(200);
    expect(listed.headers.get('access-control-allow-origin')).toBe(admin);
    expect(await listed.json()).toMatchObject({ segments: expect.any(Array) });
  });
});

describe('which paths adminOrigins open (corsPolicy)', () => {
  const admin = 'https://admin.example';
  const policy = corsPolicy({ sources: [], adminOrigins: [admin] });
  const granted = (url: string) => policy.grant(url, admin)?.methods;

  it.each(['/v1/segments', '/v1/segments?x=1', '/v1/segments/seg_1/members', '/v1/%73egments', '/v1/%73%65gments/seg_1', '/v1/currency%2Drates', '/%761/query/funnel', '/v1/query/funnel#x'])(
    'opens %s, as Fastify routes it',
    (url) => expect(granted(url)).toContain('DELETE'),
  );

  it.each([
    ['a reserved escape Fastify keeps as it is', '/v1/segments%2Fseg_1'],
    ['an escaped %', '/v1/%2573egments'],
    ['a malformed escape', '/v1/%ZZsegments'],
    ['an escape of a partial character', '/v1/segments%E2'],
    ['another case', '/v1/Segments'],
    ['a doubled slash', '//v1/segments'],
    ['another prefix', '/v2/segments'],
    ['the query API root', '/v1/query'],
    ['the SDK', '/v1/batch'],
    ['a segments look-alike', '/v1/segmentsx'],
    ['an absolute-form URL', 'http://x/v1/segments'],
  ])('does not open %s (%s)', (_label, url) => {
    expect(policy.grant(url, admin)).toBeUndefined();
    expect(policy.refusal(url, admin)?.statusCode).toBe(403);
  });
});
