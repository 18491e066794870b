// CORS as a browser on a configured origin sees it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCollector, type TestCollector } from '../../test/support/collector';

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
