// A tiny HTTP proxy for delivery tests, on 127.0.0.1 only: it answers the first N POSTs to /v1/batch
// with 503 (and Retry-After) and forwards everything else to the real collector, recording the
// messageIds of every batch the collector acknowledged, so a test can see an event arriving twice.
// Test pages are served at the proxy's own origin (Chromium refuses requests from a page to another
// loopback port it does not trust), so the proxy presents the collector's origin when it forwards.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultProxy {
  url: string;
  /** POSTs to /v1/batch answered with 503 so far. */
  failed: number;
  /** messageIds of events in batches the collector answered with 2xx, in arrival order (duplicates kept). */
  acknowledged: string[];
  close(): Promise<void>;
}

const maxBody = 1024 * 1024;

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) request.destroy(new Error('body too large for the test proxy'));
      else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function messageIds(body: Buffer): string[] {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    const batch = (parsed as { batch?: unknown }).batch;
    return Array.isArray(batch) ? batch.map((event: { messageId?: unknown }) => String(event?.messageId)) : [];
  } catch {
    return [];
  }
}

/** Starts the proxy in front of `target`; the first `failFirst` batch POSTs get 503 with `Retry-After: retryAfter`. */
export async function startFaultProxy(target: string, { failFirst = 0, retryAfter = '1' } = {}): Promise<FaultProxy> {
  const proxy: FaultProxy = { url: '', failed: 0, acknowledged: [], close: async () => undefined };
  const server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const origin = request.headers.origin;
      if (request.method === 'POST' && request.url === '/v1/batch' && proxy.failed < failFirst) {
        proxy.failed++;
        response.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': retryAfter });
        response.end(JSON.stringify({ error: 'injected_fault', message: 'the test proxy refuses this batch' }));
        return;
      }
      const headers: Record<string, string> = {};
      for (const name of ['content-type', 'authorization']) {
        const value = request.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      if (origin) headers.origin = new URL(target).origin;
      const upstream = await fetch(new URL(request.url ?? '/', target), {
        method: request.method,
        headers,
        body: request.method === 'GET' || request.method === 'HEAD' ? undefined : new Uint8Array(body),
        signal: AbortSignal.timeout(10_000),
      });
      const answer = Buffer.from(await upstream.arrayBuffer());
      if (request.method === 'POST' && upstream.ok) proxy.acknowledged.push(...messageIds(body));
      const out: Record<string, string> = {};
      upstream.headers.forEach((value, name) => {
        if (name === 'content-type' || name === 'retry-after') out[name] = value;
      });
      response.writeHead(upstream.status, out);
      response.end(answer);
    })().catch((error: unknown) => {
      response.writeHead(502, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ error: 'proxy_failed', message: String(error) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // the browser keeps connections alive
    });
  return proxy;
}
