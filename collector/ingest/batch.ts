// Reads the envelope of a POST /v1/batch body. Shape errors refuse the whole request;
// event errors are reported per index by validateEvent.
import { isObject, type EventType } from './event';

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

/**
 * Reads the body of a single-event endpoint (/v1/track, /v1/page, …) as a batch of one. The path names
 * the type; writeKey and sentAt travel in the body beside the event's fields and are taken out of it.
 */
export function readSingle(body: unknown, type: EventType): BatchRead {
  if (body === undefined || body === null || body === '') {
    return { ok: false, error: 'empty_body', message: `the request body is empty; send one ${type} event as a JSON object` };
  }
  if (!isObject(body)) return { ok: false, error: 'invalid_shape', message: `the body must be one ${type} event as a JSON object` };
  const { writeKey, sentAt, ...event } = body;
  return {
    ok: true,
    batch: {
      events: [{ ...event, type }],
      sentAt: typeof sentAt === 'string' && !Number.isNaN(Date.parse(sentAt)) ? sentAt : undefined,
      writeKey: typeof writeKey === 'string' ? writeKey : undefined,
      context: {},
    },
  };
}
