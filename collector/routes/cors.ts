// CORS: which browser origins may call which paths, with which methods, and which response headers they may read.
// The SDK's paths answer the sources' allowedOrigins; the query API's paths answer adminOrigins too (a browser
// admin tool), with the methods and export headers that API has. @fastify/cors writes the headers, per request
// through its delegator; the preflights it would refuse in its own shape are refused here first, in ours.
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CollectorConfig } from '../config';
import { HttpError } from '../errors';
import { exportHeaders } from './query';

/**
 * The path of `url` in segments, as Fastify's router matches it: the query and fragment cut off, each segment's
 * percent-escapes decoded (`/v1/%73egments` is routed as `/v1/segments`); undefined when a segment is no valid
 * escape sequence (Fastify refuses that URL). A reserved character stays inside its segment (`segments%2Fx` is
 * one segment, `segments/x`, which is not `segments`), as the router keeps it encoded in the path it matches.
 */
function routedSegments(url: string): string[] | undefined {
  const path = url.split(/[?#]/, 1)[0] ?? '';
  try {
    return path.split('/').map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}

/**
 * The query API's paths (routes/query.ts, routes/currency-rates.ts, routes/erasures.ts), the only ones adminOrigins
 * open: /v1/query/*, /v1/segments*, /v1/currency-rates*, /v1/erasures*, matched as Fastify routes them, so an escaped spelling of one gets the grant
 * its route answers with. Anything else, or anything that cannot be read, is not one (no admin grant).
 */
export function isQueryApiPath(url: string): boolean {
  const segments = routedSegments(url);
  if (segments === undefined || segments[0] !== '' || segments[1] !== 'v1') return false;
  const [area, ...rest] = segments.slice(2);
  return (area === 'query' && rest.length > 0) || area === 'segments' || area === 'currency-rates' || area === 'erasures';
}

const allowedHeaders = ['Content-Type', 'Authorization', 'Content-Encoding'];
const maxAge = 86_400;

/** What the SDK (and Segment's browser libraries) need: GET and POST; the SDK honours Retry-After. */
const sdkCors = { methods: ['GET', 'POST'], allowedHeaders, exposedHeaders: ['Retry-After'], maxAge } satisfies FastifyCorsOptions;

/** The query API's methods, and the headers an admin tool reads: Retry-After (429), an export's file name and counts. */
const adminCors = { methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'], allowedHeaders, exposedHeaders: ['Retry-After', ...exportHeaders], maxAge } satisfies FastifyCorsOptions;

export interface CorsPolicy {
  /** The CORS grant for a request from `origin` to `url`, or undefined when that origin gets none there. */
  grant(url: string, origin: string | undefined): FastifyCorsOptions | undefined;
  /** Why a preflight from `origin` to `url` is refused (403), or undefined when it is answered. */
  refusal(url: string, origin: string): HttpError | undefined;
}

const listed = (origins: ReadonlySet<string>, origin: string | undefined): boolean => origin !== undefined && (origins.has('*') || origins.has(origin));

/** Pure: the origins of the config, by path. Requests without Origin (servers) are no CORS matter and pass. */
export function corsPolicy(config: Pick<CollectorConfig, 'sources' | 'adminOrigins'>): CorsPolicy {
  // Per-source origins are enforced after the write key is known; here any configured origin passes.
  const sourceOrigins = new Set(config.sources.flatMap((source) => source.allowedOrigins));
  const adminOrigins = new Set(config.adminOrigins ?? []);
  // `origin: true` reflects the request's Origin (none for a request without one, as before the admin origins).
  const grant = (url: string, origin: string | undefined): FastifyCorsOptions | undefined => {
    if (origin === undefined) return { ...sdkCors, origin: true };
    if (isQueryApiPath(url) && listed(adminOrigins, origin)) return { ...adminCors, origin: true };
    if (listed(sourceOrigins, origin)) return { ...sdkCors, origin: true };
    return undefined;
  };
  return {
    grant,
    refusal(url, origin) {
      if (grant(url, origin)) return undefined;
      const message = isQueryApiPath(url) && adminOrigins.size > 0 ? `origin ${origin} is not in adminOrigins and not allowed by any source` : `origin ${origin} is not allowed by any source`;
      return new HttpError(403, 'origin_not_allowed', message);
    },
  };
}

/**
 * Registers CORS on `app`: call before the routes and before every other onRequest hook, so that what those hooks
 * answer (503 shutting_down, 400 missing_host) carries the CORS headers a browser needs to read it and its
 * Retry-After. A preflight is answered here, before them.
 */
export async function corsRoutes(app: FastifyInstance, config: CollectorConfig): Promise<void> {
  const policy = corsPolicy(config);
  // Preflights the CORS plugin would refuse (with a text/plain 400, or a 404 for an origin it does not grant) are
  // refused here first, in the collector's error shape. Added before the plugin, so this hook runs first.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'OPTIONS') return;
    const origin = request.headers.origin;
    if (origin === undefined || request.headers['access-control-request-method'] === undefined) {
      throw new HttpError(400, 'invalid_preflight', 'OPTIONS is for CORS preflights: send Origin and Access-Control-Request-Method');
    }
    const refusal = policy.refusal(request.url, origin);
    if (!refusal) return;
    // The answer depends on the Origin: a cache must not give this refusal to another origin's preflight.
    void reply.header('Vary', 'Origin');
    throw refusal;
  });
  await app.register(cors, {
    // Per request: the grant depends on the path as well as the origin. An origin without one gets no CORS headers.
    delegator: (request: FastifyRequest, callback) => callback(null, policy.grant(request.url, request.headers.origin) ?? { ...sdkCors, origin: false }),
  });
}
