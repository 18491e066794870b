// The tracking API: POST /v1/batch. HTTP only; the rules live in ingest/, the writes in warehouse/.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CollectorConfig, SourceConfig } from '../config';
import { HttpError } from '../errors';
import { readBatch } from '../ingest/batch';
import { validateEvent } from '../ingest/event';
import { anonymizeIp } from '../ingest/ip';
import { toDateTimeText, toEventRow, type EventRow } from '../ingest/normalize';
import { writeKeyFromAuthorization } from '../ingest/write-key';
import type { QuarantineRow, Warehouse } from '../warehouse/events';

export interface Rejection {
  index: number;
  reason: string;
}

export interface BatchReply {
  accepted: number;
  rejected: Rejection[];
}

function originAllowed(source: SourceConfig, origin: string | undefined): boolean {
  return origin === undefined || source.allowedOrigins.includes('*') || source.allowedOrigins.includes(origin);
}

function authenticate(request: FastifyRequest, bodyKey: string | undefined, sources: Map<string, SourceConfig>): SourceConfig {
  const key = writeKeyFromAuthorization(request.headers.authorization) ?? bodyKey;
  if (!key) throw new HttpError(401, 'missing_write_key', 'send the write key as the Basic-auth user name or as writeKey in the body');
  const source = sources.get(key);
  if (!source) throw new HttpError(401, 'unknown_write_key', 'this write key belongs to no configured source');
  if (!originAllowed(source, request.headers.origin)) {
    throw new HttpError(403, 'origin_not_allowed', `origin ${request.headers.origin} is not allowed for source ${source.id}`);
  }
  return source;
}

export function trackingRoutes(app: FastifyInstance, config: CollectorConfig, warehouse: Warehouse): void {
  const sources = new Map(config.sources.map((source) => [source.writeKey, source]));

  app.post('/v1/batch', async (request, reply) => {
    const read = readBatch(request.body);
    if (!read.ok) throw new HttpError(400, read.error, read.message);
    const { batch } = read;
    const source = authenticate(request, batch.writeKey, sources);

    const receivedAt = Date.now();
    const facts = {
      source: source.id,
      receivedAt,
      sentAt: batch.sentAt,
      ip: source.keepFullIp ? request.ip : anonymizeIp(request.ip),
      userAgent: request.headers['user-agent'] ?? '',
      context: batch.context,
    };
    const rows: EventRow[] = [];
    const rejected: Rejection[] = [];
    const quarantined: QuarantineRow[] = [];
    batch.events.forEach((raw, index) => {
      const result = validateEvent(raw);
      if (result.ok) {
        rows.push(toEventRow(result.event, facts));
      } else {
        rejected.push({ index, reason: result.reason });
        quarantined.push({ received_at: toDateTimeText(receivedAt), source: source.id, reason: result.reason, raw: JSON.stringify(raw) ?? '' });
      }
    });

    try {
      await warehouse.quarantine(quarantined);
      await warehouse.insertEvents(rows);
    } catch (error) {
      request.log.error({ err: error }, 'warehouse write failed');
      // Nothing was acknowledged: the client keeps the batch and retries.
      throw new HttpError(503, 'warehouse_unavailable', 'events could not be stored right now; retry later', { retryable: true });
    }
    const body: BatchReply = { accepted: rows.length, rejected };
    return reply.code(rows.length === 0 ? 400 : 200).send(rows.length === 0 ? { error: 'no_valid_events', message: 'every event in the batch was rejected', ...body } : body);
  });
}
