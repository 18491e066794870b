// Request bodies as the routes get them: a gzip body that Fastify's reader abandons (over the body
// limit) and whose tail is then broken must not crash the process.
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeBody } from './body';

/** Reads `body` as Fastify's reader does, giving up (and removing its listeners) past `limit` bytes. */
function readUpTo(body: NodeJS.ReadableStream, limit: number): Promise<'refused' | 'read'> {
  return new Promise((resolve) => {
    let received = 0;
    const stop = (outcome: 'refused' | 'read') => {
      body.removeListener('data', onData);
      body.removeListener('error', onError);
      body.removeListener('end', onEnd);
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) stop('refused');
    };
    const onError = () => stop('read');
    const onEnd = () => stop('read');
    body.on('data', onData);
    body.on('error', onError);
    body.on('end', onEnd);
  });
}

describe('decodeBody', () => {
  const bomb = gzipSync(`{"batch":[{"p":"${'0'.repeat(4 * 1024 * 1024)}"}]}`);
  const badCrc = Buffer.from(bomb);
  badCrc[badCrc.length - 8] = (badCrc[badCrc.length - 8] as number) ^ 0xff;

  for (const [label, bytes] of [
    ['truncated (a client cut off mid-upload)', bomb.subarray(0, Math.floor(bomb.length * 0.8))],
    ['with a bad CRC', badCrc],
  ] as const) {
    it(`survives a gzip body over the limit that is ${label} after the reader gave up`, async () => {
      const payload = new PassThrough();
      const body = decodeBody({ 'content-encoding': 'gzip' }, payload, 30);
      const closed = new Promise((resolve) => body.on('close', resolve));
      const outcome = readUpTo(body, 1024 * 1024);
      payload.end(bytes);
      expect(await outcome).toBe('refused');
      // The rest still flows through zlib and fails there; without a listener that error would be thrown.
      await closed;
      expect(body.destroyed).toBe(true);
    });
  }
});

describe('decodeBodyHook (the collector preParsing hook)', () => {
  // A bodyless POST (materialize) whose handler outlasts the body timeout, and bodies sent with DELETE.
  async function withApp(run: (url: string) => Promise<void>): Promise<void> {
    const { default: Fastify } = await import('fastify');
    const { decodeBodyHook } = await import('./body');
    const app = Fastify();
    app.addHook('preParsing', decodeBodyHook(1));
    app.post('/slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return { ok: true };
    });
    app.delete('/echo', async (request) => ({ body: request.body ?? null }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      await run(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`);
    } finally {
      await app.close();
    }
  }

  it('does not cut the connection of a bodyless POST whose handler outlasts the body timeout', async () => {
    await withApp(async (url) => {
      const response = await fetch(`${url}/slow`, { method: 'POST' });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ ok: true });
    });
  });

  it('inflates a gzip body sent with DELETE, as with POST and PUT', async () => {
    await withApp(async (url) => {
      const response = await fetch(`${url}/echo`, { method: 'DELETE', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync('{"a":1}') });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ body: { a: 1 } });
    });
  });
});
