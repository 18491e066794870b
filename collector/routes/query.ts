// The query and segment APIs (admin token only): funnels, saved segments, members, CSV export; exchange rates
// (routes/currency-rates.ts).
import { timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { defaultLimits, type CollectorConfig } from '../config';
import { HttpError } from '../errors';
import { isRecord, onlyFields } from '../query/conditions';
import { consentRequirements, exportFormats, parseMarketingIds, segmentCsvChunks, type ConsentRequirement, type ExportFormat } from '../query/export';
import { parseFunnelQuery } from '../query/funnel';
import { parseRunId, type RunRef } from '../query/run-id';
import { parseSegmentRule } from '../query/segment-rules';
import { createWarehouseClient } from '../warehouse/client';
import { funnelCounts } from '../warehouse/funnels';
import { segmentStore } from '../warehouse/segments';
import { currencyRateRoutes, currencyRatesPath } from './currency-rates';
import { refuseInput } from './input-error';

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

export function queryRoutes(app: FastifyInstance, config: CollectorConfig): void {
  const client = createWarehouseClient(config.clickhouse.url, config.clickhouse.database);
  const segments = segmentStore(client);
  app.addHook('onClose', () => client.close());

  const requestBytes = config.limits?.requestBytes ?? defaultLimits.requestBytes;
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
    // The collector's wording for a body over the limit speaks of events; here the body is a query or a rule.
    // Thrown on, so the collector's handler answers (and counts) it as every other refusal.
    scope.setErrorHandler((error, request) => {
      if ((error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const advice = request.url.startsWith(currencyRatesPath) ? 'send the rates in several requests' : 'send a smaller funnel query or segment rule';
        throw new HttpError(413, 'body_too_large', `the body is larger than ${requestBytes} bytes (${Math.round(requestBytes / 1024)} KB, after gzip is inflated); ${advice}`);
      }
      throw error;
    });
    scope.addHook('onRequest', async (request, reply) => {
      const refusal = adminRefusal(request.headers.authorization, config.adminToken);
      if (!refusal) return;
      // RFC 7235: a 401 names the scheme that would be accepted.
      void reply.header('WWW-Authenticate', 'Bearer');
      throw refusal;
    });

    scope.post('/v1/query/funnel', async (request) => {
      let query;
      try {
        query = parseFunnelQuery(request.body);
      } catch (error) {
        refuseInput(error, 'invalid_funnel');
      }
      const counts = await funnelCounts(client, query);
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

    scope.post<{ Params: { id: string } }>('/v1/segments/:id/materialize', async (request) => segments.materialize(await usableSegment(request.params.id)));

    scope.get<{ Params: { id: string }; Querystring: { limit?: string; offset?: string; run?: string } }>('/v1/segments/:id/members', async (request) => {
      const segment = await usableSegment(request.params.id);
      const limit = pageParameter(request.query.limit, 'limit', 100, 10_000);
      const offset = pageParameter(request.query.offset, 'offset', 0, 1e12);
      let run: RunRef | undefined;
      try {
        run = request.query.run === undefined ? undefined : parseRunId(request.query.run);
      } catch (error) {
        refuseInput(error, 'invalid_parameter');
      }
      const read = run ? await segments.runMembers(segment.id, run, limit, offset) : { page: await segments.members(segment.id, limit, offset) };
      if ('refused' in read) {
        const restart = 'start again from offset 0 without run';
        if (read.refused === 'run_gone') {
          throw new HttpError(410, 'run_gone', `run ${request.query.run} of segment ${JSON.stringify(segment.id)} is gone: a run is kept until the one after the next is computed; ${restart}`);
        }
        throw new HttpError(404, 'unknown_run', `segment ${JSON.stringify(segment.id)} has no run ${request.query.run}; ${restart}`);
      }
      // The run read from (null before the first run): pass runId back as run to page that same run.
      const { page } = read;
      return { segmentId: segment.id, limit, offset, run: page.run?.run ?? null, runId: page.run?.runId ?? null, computedAt: page.run?.computedAt ?? null, total: page.total, members: page.members };
    });

    scope.get<{ Params: { id: string }; Querystring: { format?: string; consent?: string; marketingConsentIds?: string } }>('/v1/segments/:id/export', async (request, reply) => {
      const segment = await usableSegment(request.params.id);
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
      const exported = await segments.contactExport(segment.id, { requirement: requirement as ConsentRequirement, marketingIds });
      // Known before the first row, so they can be headers: how many members the file carries and who was left out.
      return reply
        .header('Content-Type', 'text/csv; charset=utf-8')
        .header('Content-Disposition', `attachment; filename="${segment.id}-${format}.csv"`)
        .header('X-Tagflow-Consent-Requirement', requirement)
        .header('X-Tagflow-Exported-Persons', String(exported.withContacts - exported.leftOutForConsent))
        .header('X-Tagflow-Left-Out-For-Consent', String(exported.leftOutForConsent))
        .header('X-Tagflow-Consent-Undecided', String(exported.undecided))
        .send(Readable.from(segmentCsvChunks(format as ExportFormat, exported.rows), { objectMode: false }));
    });

    currencyRateRoutes(scope, client);
  });
}
