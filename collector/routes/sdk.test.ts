// The browser SDK at /sdk/: what the README's snippet loads from a production collector.
import Fastify, { type FastifyInstance } from 'fastify';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCollector, type TestCollector } from '../../test/support/collector';
import { sdkRoutes } from './sdk';

const dir = mkdtempSync(join(tmpdir(), 'tagflow-sdk-'));
const script = `!function(){var tagflow=${JSON.stringify('x'.repeat(2000))}}();\n`;
writeFileSync(join(dir, 'tagflow.min.js'), script);
writeFileSync(join(dir, 'tagflow.full.min.js'), script);
writeFileSync(join(dir, 'tagflow.banner.min.js'), script);
writeFileSync(join(dir, 'snippet.min.js'), '__TAGFLOW_CONFIG__');
writeFileSync(join(dir, 'secret.json'), '{}');

const withRoutes = (root: string): FastifyInstance => {
  const app = Fastify();
  sdkRoutes(app, root);
  return app;
};
const app = withRoutes(dir);
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('GET /sdk/:file', () => {
  it.each(['tagflow.min.js', 'tagflow.full.min.js', 'tagflow.banner.min.js'])('serves %s as a cacheable public script', async (file) => {
    const response = await app.inject({ url: `/sdk/${file}` });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe(script);
    expect(response.headers).toMatchObject({
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=3600',
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'cross-origin',
      'access-control-allow-origin': '*',
      vary: 'Accept-Encoding',
    });
    expect(response.headers.etag).toMatch(/^"[\w-]+"$/);
  });

  it('answers 304 to a revalidation with the current ETag, and a new ETag once the file is rebuilt', async () => {
    const first = await app.inject({ url: '/sdk/tagflow.min.js' });
    const again = await app.inject({ url: '/sdk/tagflow.min.js', headers: { 'if-none-match': String(first.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');

    const rebuilt = `${script}/* rebuilt */\n`;
    writeFileSync(join(dir, 'tagflow.banner.min.js'), rebuilt);
    try {
      const after = await app.inject({ url: '/sdk/tagflow.banner.min.js', headers: { 'if-none-match': String(first.headers.etag) } });
      expect(after.statusCode).toBe(200);
      expect(after.body).toBe(rebuilt);
      expect(after.headers.etag).not.toBe(first.headers.etag);
    } finally {
      writeFileSync(join(dir, 'tagflow.banner.min.js'), script);
    }
  });

  it('compresses with brotli or gzip when the browser accepts it', async () => {
    const br = await app.inject({ url: '/sdk/tagflow.min.js', headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(script);
    const gzip = await app.inject({ url: '/sdk/tagflow.min.js', headers: { 'accept-encoding': 'gzip, br;q=0' } });
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gzip.rawPayload).toString()).toBe(script);
    expect(gzip.headers.etag).not.toBe(br.headers.etag);
    const plain = await app.inject({ url: '/sdk/tagflow.min.js', headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
  });

  it.each([
    ['/sdk/snippet.min.js', 'not_found'],
    ['/sdk/secret.json', 'not_found'],
    ['/sdk/..%2Fsdk.test.ts', 'not_found'],
    ['/sdk/%2e%2e%2f%2e%2e%2fpackage.json', 'not_found'],
    ['/sdk/../config.ts', undefined], // no route: the server's not-found handler answers
  ])('serves only the public builds: %s is a 404', async (url, error) => {
    const response = await app.inject({ url });
    expect(response.statusCode).toBe(404);
    if (error) expect(response.json()).toMatchObject({ error });
    expect(response.body).not.toMatch(/__TAGFLOW_CONFIG__|vitest|"name"/);
  });

  it('says how to build the SDK when it is not built', async () => {
    const unbuilt = withRoutes(join(dir, 'missing'));
    const response = await unbuilt.inject({ url: '/sdk/tagflow.min.js' });
    await unbuilt.close();
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: 'sdk_not_built', message: expect.stringContaining('npm run build') });
  });
});

describe('a production collector (no demo)', () => {
  let collector: TestCollector;
  beforeAll(async () => {
    collector = await startTestCollector({}, { serveDemo: false });
  });
  afterAll(() => collector.close());

  it('serves the snippet script at /sdk/ but not the demo shop', async () => {
    const sdk = await fetch(`${collector.url}/sdk/tagflow.min.js`);
    expect(sdk.status).toBe(200);
    expect(sdk.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await sdk.text()).toContain('tagflow');
    const shop = await fetch(`${collector.url}/`);
    expect(shop.status).toBe(404);
  });
});
