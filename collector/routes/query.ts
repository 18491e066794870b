// The query and segment APIs (admin token only): funnels, saved segments, members, CSV export; exchange rates
// (routes/currency-rates.ts); erasures of persons (routes/erasures.ts).
import { timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { defaultLimits, type CollectorConfig } from '../config';
import { HttpError } from '../errors';
import type { CollectorMetrics } from '../metrics';
import { isRecord, onlyFields } from '../query/conditions';
import { consentRequirements, exportFormats, parseMarketingIds, segmentCsvChunks, type ConsentRequirement, type ExportFormat } from '../query/export';
import { maxErasureValueLength } from '../query/erasure-request';
import { parseFunnelQuery } from '../query/funnel';
import { parseMembersCursor, type MembersCursor } from '../query/members-cursor';
import { formatRunId, parseRunId, type RunRef } from '../query/run-id';
import { parseSegmentRule } from '../query/segment-rules';
import { clickhouseErrorCode, createWarehouseClient } from '../warehouse/client';
import { funnelCounts } from '../warehouse/funnels';
import { segmentStore, type ContactCounts, type ContactExport } from '../warehouse/segments';
import { currencyRateRoutes, currencyRatesPath } from './currency-rates';
import { erasureRoutes, erasuresPath } from './erasures';
import { refuseInput } from './input-error';
import { QueryLimiter } from './query-limiter';

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Why a request may not use the query API (a 401), or undefined when it may. GET /metrics asks the same. */
export function adminRefusal(authorization: string | undefined, token: string | undefined): HttpError | undefined {
  // Auth schemes are case-insensitive (RFC 7235 §2.1): `bearer <token>` is as good as `Bearer <token>`.
  const given = /^Bearer +(.+)$/i.exec(authorization ?? '')?.[1];
  if (!token) return new HttpError(401, 'admin_token_not_configured', 'the query API is off: set adminToken in the collector config');
  if (!given) return new HttpError(401, 'missing_admin_token', 'send the admin token as Authorization: Bearer <token>');
  if (!sameToken(given, token)) return new HttpError(401, 'invalid_admin_token', 'the admin token is not valid');
  return undefined;
}

/**
 * A paging parameter: digits only, from 0 to `max`. Number() would take '' and ' ' as 0, '0x10' as 16 and
 * '1e3' as 1000; a repeated parameter arrives as an array.
 */
function pageParameter(value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (Number.isNaN(n) || n > max) throw new HttpError(400, 'invalid_parameter', `${name} must be a whole number from 0 to ${max.toLocaleString('en-US')}, in digits`);
  return n;
}

/** The longest delay a Node timer takes (2^31 - 1 ms); a longer one warns (TimeoutOverflowWarning). */
const maxTimerMs = 2 ** 31 - 1;

/** Seconds a refused client is asked to wait: most queries answer within a second, the largest funnel in about 5 s. */
export const queryRetryAfterSeconds = 5;

/**
 * ClickHouse's codes for a query stopped by max_execution_time: 159 (TIMEOUT_EXCEEDED) when it ran out of time;
 * 160 (TOO_SLOW) when, after 10 s, ClickHouse estimated that it would (max_execution_time before 24.1, as on 23.x;
 * 24.1 moved the estimate to max_estimated_execution_time, which is not set here).
 */
const timeoutCodes = new Set(['159', '160']);

/**
 * ClickHouse's code for a query stopped at a memory limit (MEMORY_LIMIT_EXCEEDED): the query API's own
 * (max_memory_usage, "for query"), or the server's or user's total, which this query pushed over.
 */
const memoryLimitCode = '241';

/** Fires when `response` closes before its answer is complete: the client went away (a waiter gives up its place). */
function clientGone(response: ServerResponse): AbortSignal {
  const controller = new AbortController();
  if (response.closed || response.destroyed) controller.abort();
  else response.once('close', () => controller.abort());
  return controller.signal;
}

/** The answer to a request whose client went away `when`: no failure of the collector (sendError logs it at debug). */
const clientClosed = (when: string): HttpError => new HttpError(499, 'client_closed_request', `the client closed the connection ${when}`);

/**
 * Runs `work` in one of the limiter's slots: at once, after waiting in the queue, or not at all (429 when the
 * queue is full, 499 when the client left while waiting). The slot is given back as soon as `work` has settled, or
 * earlier when it says it is done with ClickHouse (`clickhouseDone`), whichever comes first. A JSON route's `work`
 * settles once its queries are over and its answer is handed to Fastify (or its error thrown): sending the answer
 * uses no ClickHouse, and a client that stops reading a large page would otherwise keep the slot for as long as it
 * keeps its connection. An export's `work` settles when its streamed answer ends or its client goes away (Fastify's
 * reply, which it returns, is awaited until then), and it calls `clickhouseDone` once its rows' query is over, so a
 * client that stops reading a CSV does not keep the slot either.
 */
async function inSlot<T>(limiter: QueryLimiter, reply: FastifyReply, work: (clickhouseDone: () => void) => Promise<T>): Promise<T> {
  const admission = await limiter.acquire(clientGone(reply.raw));
  if (!admission.admitted) {
    if (admission.reason === 'aborted') throw clientClosed('while its query waited for a slot');
    void reply.header('Retry-After', String(queryRetryAfterSeconds));
    throw new HttpError(
      429,
      'too_many_queries',
      `the query API is running ${limiter.concurrency} queries with ${limiter.queueLength} more waiting, as many as it takes (limits.queryConcurrency, limits.queryQueue); retry after ${queryRetryAfterSeconds} seconds`,
    );
  }
  // A release counts once, whichever comes first.
  try {
    return await work(admission.release);
  } finally {
    admission.release();
  }
}

/** The headers of an export besides its Content-Type: the file name and the counts (routes/cors.ts exposes them). */
export const exportHeaders = ['Content-Disposition', 'X-Tagflow-Consent-Requirement', 'X-Tagflow-Exported-Persons', 'X-Tagflow-Left-Out-For-Consent', 'X-Tagflow-Consent-Undecided'] as const;

const isFileHeader = (name: string): boolean => name === 'content-type' || name === 'content-disposition' || name.startsWith('x-tagflow-');

/** Removes an export's headers (type, file name, X-Tagflow-* counts) from a reply not started yet, and from its response. */
function dropFileHeaders(reply: FastifyReply): void {
  for (const name of Object.keys(reply.getHeaders()).filter(isFileHeader)) void reply.removeHeader(name);
  for (const name of reply.raw.getHeaderNames().filter(isFileHeader)) reply.raw.removeHeader(name);
}

/** The answer to a query ClickHouse stopped at the query API's time limit. */
function queryTimeout(seconds: number): HttpError {
  return new HttpError(
    504,
    'query_timeout',
    `ClickHouse stopped the query at the query API's time limit of ${seconds} seconds (limits.queryTimeoutSeconds): narrow it (a shorter from/to range, fewer steps or filters, a smaller segment) or raise the limit`,
  );
}

/**
 * The answer to a query ClickHouse stopped at a memory limit. 507 (Insufficient Storage: the server cannot hold
 * what the request needs), not 503: every 503 of the collector is passing and carries Retry-After, while this
 * query fails again as it is until it is narrowed or the limit raised. The message names the setting and its value.
 */
function queryMemoryLimit(bytes: number): HttpError {
  return new HttpError(
    507,
    'query_memory_limit',
    `ClickHouse stopped the query at a memory limit; the query API's is ${bytes} bytes (${(bytes / 1024 ** 3).toFixed(2)} GiB, limits.queryMaxMemoryBytes): narrow it (a shorter from/to range, fewer steps or filters, a smaller segment) or raise the limit`,
  );
}

export function queryRoutes(app: FastifyInstance, config: CollectorConfig, metrics?: CollectorMetrics): void {
  const limits = { ...defaultLimits, ...config.limits };
  // The time and memory limits ride on every request of this client only: the shipper's and the jobs' clients have
  // their own, without them.
  // The HTTP timeout (idle socket) leaves ClickHouse the time to stop the query and say why; at most what a Node
  // timer holds (about 24.8 days), past which Node warns on every request and truncates it anyway.
  const client = createWarehouseClient(config.clickhouse.url, config.clickhouse.database, {
    settings: { max_execution_time: limits.queryTimeoutSeconds, max_memory_usage: String(limits.queryMaxMemoryBytes) },
    requestTimeoutMs: Math.min(maxTimerMs, Math.max(60_000, (limits.queryTimeoutSeconds + 30) * 1000)),
  });
  const segments = segmentStore(client);
  app.addHook('onClose', () => client.close());
  const limiter = new QueryLimiter(limits.queryConcurrency, limits.queryQueue, (load) => {
    metrics?.queriesRunning.set(load.running);
    metrics?.queriesWaiting.set(load.waiting);
  });
  /** `work` in a query slot (the expensive routes; listing segments or rates, saving or deleting one stay outside). */
  const limited = <T>(reply: FastifyReply, work: (clickhouseDone: () => void) => Promise<T>): Promise<T> => inSlot(limiter, reply, work);

  const requestBytes = limits.requestBytes;
  // The sources' configured marketing ids count in every export; a request may name more.
  const configuredMarketingIds = config.sources.flatMap((source) => source.marketingConsentIds ?? []);
  const unknownSegment = (id: string) => new HttpError(404, 'unknown_segment', `no segment ${JSON.stringify(id)}`);
  /** The segment to run, list or export: 404 when there is none, 409 when it is stored but its rule no longer validates. */
  const usableSegment = async (id: string) => {
    const found = await segments.lookup(id);
    if (!found) throw unknownSegment(id);
    if ('invalid' in found) {
      throw new HttpError(
        409,
        'invalid_stored_segment',
        `segment ${JSON.stringify(id)} is stored, but its rule no longer validates (${found.invalid.problem}); delete it and save the rule again`,
        { problem: found.invalid.problem },
      );
    }
    return found.segment;
  };

  app.register(async (scope) => {
    // Errors are thrown on, so the collector's handler answers (and counts) them as every other refusal.
    scope.setErrorHandler((error, request, reply) => {
      // An export that fails before its first byte: Fastify already put the file's headers on the response to
      // stream it (the JSON error would be refused as text/csv), and they describe a file that is not coming.
      if (!reply.raw.headersSent) dropFileHeaders(reply);
      // The collector's wording for a body over the limit speaks of events; here the body is a query or a rule.
      if ((error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const advice = request.url.startsWith(currencyRatesPath)
          ? 'send the rates in several requests'
          : request.url.startsWith(erasuresPath)
            ? `an erasure names one identifier of at most ${maxErasureValueLength.toLocaleString('en-US')} characters`
            : 'send a smaller funnel query or segment rule';
        throw new HttpError(413, 'body_too_large', `the body is larger than ${requestBytes} bytes (${Math.round(requestBytes / 1024)} KB, after gzip is inflated); ${advice}`);
      }
      // A query ClickHouse stopped at the time limit (an export's too, before its first byte; after it, the answer
      // can only be cut short): a 504 naming the limit rather than a 500.
      const code = error instanceof HttpError ? undefined : clickhouseErrorCode(error);
      if (code !== undefined && timeoutCodes.has(code)) throw queryTimeout(limits.queryTimeoutSeconds);
      // Likewise a query stopped at a memory limit: a 507 naming limits.queryMaxMemoryBytes rather than a bare 500.
      if (code === memoryLimitCode) throw queryMemoryLimit(limits.queryMaxMemoryBytes);
      throw error;
    });
    scope.addHook('onRequest', async (request, reply) => {
      const refusal = adminRefusal(request.headers.authorization, config.adminToken);
      if (!refusal) return;
      // RFC 7235: a 401 names the scheme that would be accepted.
      void reply.header('WWW-Authenticate', 'Bearer');
      throw refusal;
    });

    // Every parameter is checked before the request takes a slot (checking uses no ClickHouse), so a malformed
    // request gets its 400 at once, not a 429 under load; the segment lookup does use ClickHouse, inside the slot.
    scope.post('/v1/query/funnel', async (request, reply) => {
      let query;
      try {
        query = parseFunnelQuery(request.body);
      } catch (error) {
        refuseInput(error, 'invalid_funnel');
      }
      const counts = await limited(reply, () => funnelCounts(client, query));
      return { steps: counts.map((persons, i) => ({ step: i + 1, persons, conversion: i === 0 || counts[0] === 0 ? (persons > 0 ? 1 : 0) : persons / (counts[0] as number) })) };
    });

    scope.post('/v1/segments', async (request, reply) => {
      const body = request.body as { name?: unknown; rule?: unknown } | undefined;
      try {
        // A misspelt field would otherwise be dropped unnoticed (a rule's own fields are checked by its parser).
        if (isRecord(body)) onlyFields(body, ['name', 'rule'], 'segment');
      } catch (error) {
        refuseInput(error, 'invalid_segment');
      }
      if (typeof body?.name !== 'string' || body.name.trim() === '' || body.name.length > 200) {
        throw new HttpError(400, 'invalid_segment', 'name must be a non-empty string of at most 200 characters', { path: 'name' });
      }
      let rule;
      try {
        rule = parseSegmentRule(body.rule);
      } catch (error) {
        refuseInput(error, 'invalid_rule');
      }
      return reply.code(201).send(await segments.create(body.name, rule));
    });

    scope.get('/v1/segments', async () => {
      const [list, invalidSegments] = await Promise.all([segments.list(), segments.invalid()]);
      return { segments: list, invalid: invalidSegments };
    });

    scope.delete<{ Params: { id: string } }>('/v1/segments/:id', async (request, reply) => {
      const { id } = request.params;
      const removal = await segments.remove(id);
      if (removal === 'builtin') throw new HttpError(409, 'builtin_segment', `${JSON.stringify(id)} is a built-in segment, defined in code; it cannot be deleted`);
      if (removal === 'unknown') throw unknownSegment(id);
      return reply.code(204).send();
    });

    scope.post<{ Params: { id: string } }>('/v1/segments/:id/materialize', async (request, reply) =>
      limited(reply, async () => segments.materialize(await usableSegment(request.params.id))),
    );

    scope.get<{ Params: { id: string }; Querystring: { limit?: string; offset?: string; run?: string; cursor?: string } }>('/v1/segments/:id/members', async (request, reply) => {
      const limit = pageParameter(request.query.limit, 'limit', 100, 10_000);
      const offset = pageParameter(request.query.offset, 'offset', 0, 1e12);
      let run: RunRef | undefined;
      let cursor: MembersCursor | undefined;
      try {
        run = request.query.run === undefined ? undefined : parseRunId(request.query.run);
        cursor = request.query.cursor === undefined ? undefined : parseMembersCursor(request.query.cursor);
      } catch (error) {
        refuseInput(error, 'invalid_parameter');
      }
      if (cursor) {
        // The cursor says where the page starts and in which run: another start or run would contradict it.
        for (const name of ['offset', 'run'] as const) {
          if (request.query[name] !== undefined) {
            throw new HttpError(400, 'invalid_parameter', `${name} cannot be sent with cursor: the cursor already names the run and where the page starts`, { path: name });
          }
        }
      }
      return limited(reply, async () => {
        const segment = await usableSegment(request.params.id);
        const asked = cursor?.run ?? run;
        const read = asked
          ? await segments.runMembers(segment.id, asked, limit, cursor ? { from: cursor.from } : { offset })
          : { page: await segments.members(segment.id, limit, offset) };
        if ('refused' in read) {
          // Named as the client sent it: the run parameter, or the run its cursor pages.
          const [named, restart] = cursor
            ? [`run ${formatRunId(cursor.run)} (the run cursor pages)`, 'start again without cursor']
            : [`run ${request.query.run}`, 'start again from offset 0 without run'];
          if (read.refused === 'run_gone') {
            throw new HttpError(410, 'run_gone', `${named} of segment ${JSON.stringify(segment.id)} is gone: a run is kept until the one after the next is computed; ${restart}`);
          }
          throw new HttpError(404, 'unknown_run', `segment ${JSON.stringify(segment.id)} has no ${named}; ${restart}`);
        }
        // The run read from (null before the first run): pass runId back as run, or next as cursor, to page that same
        // run. A page read by cursor has no offset.
        const { page } = read;
        return {
          segmentId: segment.id,
          limit,
          offset: cursor ? null : offset,
          run: page.run?.run ?? null,
          runId: page.run?.runId ?? null,
          computedAt: page.run?.computedAt ?? null,
          total: page.total,
          members: page.members,
          next: page.next ?? null,
        };
      });
    });

    // The slot stays taken while the CSV streams, until the rows' query is over or the response has closed.
    scope.get<{ Params: { id: string }; Querystring: { format?: string; consent?: string; marketingConsentIds?: string } }>('/v1/segments/:id/export', async (request, reply) => {
      const format = request.query.format ?? 'google';
      if (!(exportFormats as readonly string[]).includes(format)) {
        throw new HttpError(400, 'invalid_parameter', `format must be one of ${exportFormats.join(', ')}`);
      }
      const requirement = request.query.consent ?? 'unless_denied';
      if (!(consentRequirements as readonly string[]).includes(requirement)) {
        throw new HttpError(400, 'invalid_parameter', `consent must be one of ${consentRequirements.join(', ')}`);
      }
      let marketingIds: string[] = [];
      try {
        marketingIds = parseMarketingIds(request.query.marketingConsentIds);
      } catch (error) {
        refuseInput(error, 'invalid_parameter');
      }
      marketingIds = [...new Set([...configuredMarketingIds, ...marketingIds])];
      return limited(reply, async (clickhouseDone) => {
        const segment = await usableSegment(request.params.id);
        const consent = { requirement: requirement as ConsentRequirement, marketingIds };
        // A HEAD gets the GET's headers and no body: the counts alone, no rows read. (Fastify would drain a stream
        // body for it after the answer, once the slot is given back: a rows query would run outside the limits.)
        // A GET's query ends when its client goes away, whether before its first row or before its body is read.
        let exported: ContactCounts;
        let body: Readable;
        if (request.method === 'HEAD') {
          exported = await segments.contactCounts(segment.id, consent);
          body = Readable.from([]);
        } else {
          const gone = clientGone(reply.raw);
          let file: ContactExport;
          try {
            file = await segments.contactExport(segment.id, consent, { onRowsClosed: clickhouseDone, signal: gone });
          } catch (error) {
            // The client's own leaving aborted the query (the ClickHouse client's plain "user aborted" Error): a 499
            // like a waiter's, not a 500 logged as the collector's failure.
            if (gone.aborted) throw clientClosed("before its export's first row");
            throw error;
          }
          exported = file;
          body = Readable.from(segmentCsvChunks(format as ExportFormat, file.rows), { objectMode: false });
        }
        // Known before the first row, so they can be headers: how many members the file carries and who was left out.
        return reply
          .header('Content-Type', 'text/csv; charset=utf-8')
          .header('Content-Disposition', `attachment; filename="${segment.id}-${format}.csv"`)
          .header('X-Tagflow-Consent-Requirement', requirement)
          .header('X-Tagflow-Exported-Persons', String(exported.withContacts - exported.leftOutForConsent))
          .header('X-Tagflow-Left-Out-For-Consent', String(exported.leftOutForConsent))
          .header('X-Tagflow-Consent-Undecided', String(exported.undecided))
          .send(body);
      });
    });

    currencyRateRoutes(scope, client);
    erasureRoutes(scope, client);
  });
}
