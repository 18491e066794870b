// The tracking API: POST /v1/batch and Segment's single-event endpoints (/v1/track, page, screen,
// identify, alias, group), each also under the short path Segment's own clients post to (/v1/b, /v1/t, …).
// HTTP only: the rules live in ingest/, durability in spool/.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { defaultLimits, defaultRateLimit, type CollectorConfig, type SourceConfig } from '../config';
import { HttpError } from '../errors';
import { readBatch, readSingle, type BatchRead } from '../ingest/batch';
import { eventTypes, type EventType } from '../ingest/event';
import { anonymizeIp, clientIp } from '../ingest/ip';
import { blockedIdSet } from '../ingest/placeholder-ids';
import { processBatch, type Rejection } from '../ingest/process';
import { createRateLimiter } from '../ingest/rate-limit';
import { writeKeyFromAuthorization } from '../ingest/write-key';
import type { CollectorMetrics } from '../metrics';
import { encodeSpoolRecord } from '../spool/payload';
import { SpoolFullError, type Spool } from '../spool/spool';
import { parsedBodyBytes } from './body';

export type { Rejection } from '../ingest/process';

export interface BatchReply {
  accepted: number;
  rejected: Rejection[];
  /** Events the source's consent policy dropped (present only when some were). */
  dropped?: number;
}

/**
 * Segment's mobile libraries (analytics-kotlin RequestFactory.upload, analytics-swift HTTPClient.startBatchUpload)
 * and analytics.js when batching post batches to `{apiHost}/b`, apiHost being `api.segment.io/v1` by default.
 */
export const batchShortPath = '/v1/b';

/**
 * analytics.js (analytics-next, plugins/segmentio) posts each event to `{apiHost}/` + the first letter of its
 * type: /v1/t, /v1/p, /v1/s, /v1/i, /v1/a, /v1/g (distinct for the six types).
 */
export function singleEventShortPath(type: EventType): string {
  return `/v1/${type.charAt(0)}`;
}

/** Seconds a client is asked to wait when the spool is full. */
export const spoolFullRetryAfterSeconds = 5;

/** Whether a browser on `origin` may use this source (a request without Origin is not a browser's). */
function originAllowed(source: SourceConfig, origin: string | undefined): boolean {
  return origin === undefined || source.allowedOrigins.includes('*') || source.allowedOrigins.includes(origin);
}

/**
 * The source a request's write key names: the Basic-auth user name, or `otherKey`, the writeKey given in the
 * request's `where` (its body, or its query for the settings endpoints).
 */
export function sourceOfWriteKey(request: FastifyRequest, otherKey: string | undefined, where: 'body' | 'query', sources: Map<string, SourceConfig>): SourceConfig {
  const headerKey = writeKeyFromAuthorization(request.headers.authorization);
  // Two different keys are a misconfigured client: picking either would file its events under a source it
  // may not have meant, silently.
  if (headerKey !== undefined && otherKey !== undefined && headerKey !== otherKey) {
    throw new HttpError(400, 'conflicting_write_keys', `the write key in the Authorization header and writeKey in the ${where} differ; send one, or the same in both`);
  }
  const key = headerKey ?? otherKey;
  if (!key) throw new HttpError(401, 'missing_write_key', `send the write key as the Basic-auth user name or as writeKey in the ${where}`);
  const source = sources.get(key);
  if (!source) throw new HttpError(401, 'unknown_write_key', 'this write key belongs to no configured source');
  return source;
}

/** Refuses (403) a request from a page whose origin `source` does not allow. */
export function checkOrigin(source: SourceConfig, request: FastifyRequest): void {
  if (!originAllowed(source, request.headers.origin)) {
    throw new HttpError(403, 'origin_not_allowed', `origin ${request.headers.origin} is not allowed for source ${source.id}`);
  }
}

function authenticate(request: FastifyRequest, bodyKey: string | undefined, sources: Map<string, SourceConfig>): SourceConfig {
  const source = sourceOfWriteKey(request, bodyKey, 'body', sources);
  checkOrigin(source, request);
  return source;
}

export interface TrackingDependencies {
  spool: Spool;
  metrics: CollectorMetrics;
  /** The receive time of a request (ms); Date.now unless a test sends one on another day (StartOptions.receiveClock). */
  receiveClock?: () => number;
}

export function trackingRoutes(app: FastifyInstance, config: CollectorConfig, { spool, metrics, receiveClock = Date.now }: TrackingDependencies): void {
  const sources = new Map(config.sources.map((source) => [source.writeKey, source]));
  const limits = { ...defaultLimits, ...config.limits };
  const rateLimiter = createRateLimiter(limits.rateLimitClients);
  const blockedIds = blockedIdSet(config.blockedIds);

  // Per source and client address (as the trusted proxies say), so a flood from one client leaves the
  // source's other visitors alone.
  function rateLimit(source: SourceConfig, request: FastifyRequest, reply: FastifyReply): void {
    const limit = source.rateLimit ?? defaultRateLimit;
    const taken = rateLimiter.take(source.id, clientIp(request.ip), limit, Date.now());
    if (!taken.ok) {
      void reply.header('Retry-After', String(taken.retryAfterSeconds));
      throw new HttpError(429, 'rate_limited', `this client sends source ${source.id} more than ${limit.requestsPerSecond} requests per second; retry after ${taken.retryAfterSeconds} s`);
    }
  }

  function spoolFull(reply: FastifyReply): HttpError {
    void reply.header('Retry-After', String(spoolFullRetryAfterSeconds));
    return new HttpError(503, 'spool_full', 'the collector is behind on writing to its warehouse; retry later', { retryable: true });
  }

  // Requests that already paid their rate-limit token before the body was read.
  const limited = new WeakSet<FastifyRequest>();

  // Refused before the body is read or parsed, so a full spool or a client over its rate limit costs no
  // memory per request (the rate limit needs the key from the Authorization header for that).
  const beforeBody = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!spool.hasRoomFor(Number(request.headers['content-length']) || 0)) {
      // Closing the connection spares reading (and buffering) a body that is refused anyway.
      void reply.header('Connection', 'close');
      throw spoolFull(reply);
    }
    const source = sources.get(writeKeyFromAuthorization(request.headers.authorization) ?? '');
    if (source) {
      rateLimit(source, request, reply);
      limited.add(request);
    }
  };

  async function ingest(request: FastifyRequest, reply: FastifyReply, read: BatchRead, single: boolean) {
    if (!read.ok) throw new HttpError(read.status ?? 400, read.error, read.message);
    const { batch } = read;
    const source = authenticate(request, batch.writeKey, sources);
    if (!limited.has(request)) rateLimit(source, request, reply);
    const ip = clientIp(request.ip);
    const result = processBatch(
      batch,
      {
        source: source.id,
        consentPolicy: source.consentPolicy ?? 'strip',
        analyticsConsentIds: source.analyticsConsentIds,
        marketingConsentIds: source.marketingConsentIds,
        receivedAt: receiveClock(),
        ip: source.keepFullIp ? ip : anonymizeIp(ip),
        keepFullIp: source.keepFullIp,
        userAgent: request.headers['user-agent'] ?? '',
        blockedIds,
      },
      limits,
      // The body's size as parsed (after gzip is inflated).
      parsedBodyBytes.get(request) ?? Infinity,
    );
    if (result.rows.length > 0 || result.quarantine.length > 0 || result.refusals.length > 0) {
      try {
        // All or nothing: with room for the quarantine rows but not the events, a 503 would leave the
        // refused events spooled, and every retry of the request would quarantine them again.
        await spool.appendAll(encodeSpoolRecord({ events: result.rows, quarantine: result.quarantine, refusals: result.refusals }));
      } catch (error) {
        if (error instanceof SpoolFullError) throw spoolFull(reply);
        request.log.error({ err: error }, 'spool append failed');
        throw new HttpError(503, 'spool_unavailable', 'events could not be stored right now; retry later', { retryable: true });
      }
      metrics.spooled.inc();
    }
    metrics.received.inc({ source: source.id }, batch.events.length);
    metrics.accepted.inc({ source: source.id }, result.rows.length);
    for (const code of result.rejectedCodes) metrics.rejected.inc({ source: source.id, reason: code });
    if (result.stripped > 0) metrics.consent.inc({ source: source.id, action: 'stripped' }, result.stripped);
    if (result.dropped > 0) metrics.consent.inc({ source: source.id, action: 'dropped' }, result.dropped);
    if (result.refusals.length > 0) metrics.consentRefusals.inc({ source: source.id }, result.refusals.length);
    if (result.blockedIds > 0) metrics.blockedIds.inc({ source: source.id }, result.blockedIds);

    const body: BatchReply = { accepted: result.rows.length, rejected: result.rejected, ...(result.dropped > 0 ? { dropped: result.dropped } : {}) };
    if (result.rows.length > 0 || result.dropped > 0) return reply.code(200).send(body);
    const [first] = result.rejected;
    return single
      ? reply.code(400).send({ error: 'invalid_event', message: first?.reason ?? 'the event was rejected', ...body })
      : reply.code(400).send({ error: 'no_valid_events', message: 'every event in the batch was rejected', ...body });
  }

  // The short paths are the same handler under a second name, so auth, limits, CORS and errors cannot drift apart.
  for (const path of ['/v1/batch', batchShortPath]) {
    app.post(path, { onRequest: beforeBody }, (request, reply) => ingest(request, reply, readBatch(request.body, limits), false));
  }
  for (const type of eventTypes) {
    for (const path of [`/v1/${type}`, singleEventShortPath(type)]) {
      app.post(path, { onRequest: beforeBody }, (request, reply) => ingest(request, reply, readSingle(request.body, type), true));
    }
  }
}
