// Reads the envelope of a POST /v1/batch body. Shape errors refuse the whole request;
// event errors are reported per index by validateEvent.
import { isObject } from './event';

/** What a batch request carries besides its events; top-level context merges into each event. */
export interface BatchEnvelope {
  events: unknown[];
  sentAt: string | undefined;
  writeKey: string | undefined;
  context: Record<string, unknown>;
}

export type BatchRead = { ok: true; batch: BatchEnvelope } | { ok: false; error: string; message: string };

export const maxEventsPerBatch = 2500;

export function readBatch(body: unknown): BatchRead {
  if (body === undefined || body === null || body === '') {
    return { ok: false, error: 'empty_body', message: 'the request body is empty; send {"batch": [events]}' };
  }
  if (!isObject(body)) return { ok: false, error: 'invalid_shape', message: 'the body must be a JSON object like {"batch": [events]}' };
  const events = body.batch;
  if (!Array.isArray(events)) return { ok: false, error: 'invalid_shape', message: 'batch must be an array of events' };
  if (events.length === 0) return { ok: false, error: 'invalid_shape', message: 'batch is empty' };
  if (events.length > maxEventsPerBatch) {
    return { ok: false, error: 'too_many_events', message: `batch has ${events.length} events; at most ${maxEventsPerBatch} are allowed` };
  }
  const sentAt = typeof body.sentAt === 'string' && !Number.isNaN(Date.parse(body.sentAt)) ? body.sentAt : undefined;
  const writeKey = typeof body.writeKey === 'string' ? body.writeKey : undefined;
  const context = isObject(body.context) ? body.context : {};
  return { ok: true, batch: { events, sentAt, writeKey, context } };
}
