// Before parsing: inflate gzip-encoded bodies and refuse bodies that arrive too slowly.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { createGunzip, type Gunzip } from 'node:zlib';
import { HttpError } from '../errors';

type Payload = Readable & { receivedEncodedLength?: number };

/**
 * The size in bytes of each request's body as parsed (after gzip is inflated), recorded by the body
 * parser: the ingest rules bound what an event can become by it, whatever Content-Length said.
 */
export const parsedBodyBytes = new WeakMap<object, number>();

/** Methods whose bodies Fastify never reads (its `bodyless` set). */
const bodylessMethods = new Set(['GET', 'HEAD', 'TRACE']);

/**
 * Whether Fastify reads this request's body: a method that takes one (POST, PUT, DELETE, PATCH…) and a body
 * (Content-Length above 0, or chunked). Only those are decoded and timed: a timer on a body nobody reads (a
 * bodyless POST such as materialize) would fire while the handler still works and destroy the connection.
 */
export function readsBody(method: string, headers: IncomingHttpHeaders): boolean {
  if (bodylessMethods.has(method)) return false;
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Fastify's preParsing hook: every body a route reads is inflated (gzip) and timed, whatever the method. */
export function decodeBodyHook(timeoutSeconds: number) {
  return async (request: { method: string; headers: IncomingHttpHeaders }, _reply: unknown, payload: Readable): Promise<Readable> =>
    readsBody(request.method, request.headers) ? decodeBody(request.headers, payload, timeoutSeconds) : payload;
}

/**
 * Returns the stream Fastify parses: the payload itself, or its gunzipped form (Fastify's body limit then
 * counts inflated bytes, which stops gzip bombs). A body not complete after `timeoutSeconds` fails with 408.
 */
export function decodeBody(headers: IncomingHttpHeaders, payload: Readable, timeoutSeconds: number): Payload {
  const timer = setTimeout(() => {
    if (payload.readableEnded) return;
    // Fastify's body reader listens for 'error' and answers with the error's status; without a reader, just drop it.
    if (payload.listenerCount('error') > 0) payload.emit('error', new HttpError(408, 'body_timeout', `the body did not arrive within ${timeoutSeconds} s`));
    else payload.destroy();
  }, timeoutSeconds * 1000);
  timer.unref();
  const clear = () => clearTimeout(timer);
  payload.once('end', clear);
  payload.once('close', clear);

  const encoding = headers['content-encoding']?.trim().toLowerCase();
  if (!encoding || encoding === 'identity') return payload;
  if (encoding !== 'gzip' && encoding !== 'x-gzip') {
    clear();
    throw new HttpError(415, 'unsupported_encoding', `Content-Encoding ${encoding} is not supported; send gzip or no encoding`);
  }
  const gunzip: Gunzip & { receivedEncodedLength?: number } = createGunzip();
  gunzip.receivedEncodedLength = 0;
  payload.on('data', (chunk: Buffer) => {
    gunzip.receivedEncodedLength = (gunzip.receivedEncodedLength ?? 0) + chunk.length;
  });
  payload.on('error', (error) => gunzip.destroy(error));
  // Fastify's body reader handles errors only while it reads. Once it has refused the body (413) it
  // removes its listeners, but the stream keeps flowing: a truncated or corrupt tail then fails in zlib
  // with nobody listening, which would crash the process. The reader has already answered by then.
  gunzip.on('error', () => undefined);
  gunzip.once('end', clear);
  gunzip.once('close', clear);
  payload.pipe(gunzip);
  return gunzip;
}
