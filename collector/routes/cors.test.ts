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

  it('gives an unconfigured origin no CORS grant', async () => {
    const response = await fetch(`${collector.url}/v1/batch`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });
});
