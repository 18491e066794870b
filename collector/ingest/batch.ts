// Reads the envelope of a POST /v1/batch body. Shape errors refuse the whole request;
// event errors are reported per index by validateEvent.
import { defaultLimits, type LimitsConfig } from '../config';
import { isObject, maxDepth, nestedDeeperThan, type EventType } from './event';
import { parseClientTime } from './normalize';
import { writeKeyFromBody } from './write-key';

/** What a batch request carries besides its events; top-level context merges into each event. */
export interface BatchEnvelope {
  events: unknown[];
  sentAt: string | undefined;
  writeKey: string | undefined;
  /** Checked by readBatch: nested at most `maxDepth - 1` levels, its JSON within the limits below. */
  context: Record<string, unknown>;
  /** The size of `context` as JSON (0 when it is empty), measured once per request. */
  contextBytes: number;
}

/** `status` is 400 unless given. */
export type BatchRead = { ok: true; batch: BatchEnvelope } | { ok: false; status?: number; error: string; message: string };

export const maxEventsPerBatch = 2500;

/**
 * `sentAt` when it is an ISO-8601 date-time, as every Segment library sends it (with a `T` or, as event
 * timestamps may, a space); a date alone or anything looser would move the batch's events by up to the
 * whole skew bound, so it is ignored.
 */
const readSentAt = (value: unknown): string | undefined =>
  typeof value === 'string' && /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d/.test(value) && !Number.isNaN(parseClientTime(value)) ? value : undefined;

const formatBytes = (bytes: number) => bytes.toLocaleString('en-US');

/**
 * Checks the batch-level context once for the whole request. It is copied into every event, so it must
 * fit in one event (else every event would be refused for it) and what the copies add, its size times the
 * events, may be at most one more request's worth: a small gzip body must not turn into megabytes of rows.
 */
function contextRefusal(context: Record<string, unknown>, events: number, limits: Pick<LimitsConfig, 'eventBytes' | 'requestBytes'>): { ok: false; status: number; error: string; message: string } | number {
  // Before JSON.stringify, whose recursion a deep enough context would overflow. It sits one level below
  // each event, so it may nest one level less than an event.
  if (nestedDeeperThan(context, maxDepth - 1)) {
    return { ok: false, status: 400, error: 'context_too_deep', message: `the batch context is nested deeper than ${maxDepth - 1} levels (it sits inside each event, which may nest ${maxDepth})` };
  }
  const bytes = Object.keys(context).length === 0 ? 0 : Buffer.byteLength(JSON.stringify(context));
  if (bytes > limits.eventBytes) {
    return { ok: false, status: 400, error: 'context_too_large', message: `the batch context is ${formatBytes(bytes)} bytes; it is copied into every event, so at most ${formatBytes(limits.eventBytes)} bytes (the event limit) are allowed` };
  }
  if (bytes * events > limits.requestBytes) {
    return {
      ok: false,
      status: 413,
      error: 'body_too_large',
      message: `the batch context (${formatBytes(bytes)} bytes) copied into each of the ${formatBytes(events)} events adds ${formatBytes(bytes * events)} bytes; at most ${formatBytes(limits.requestBytes)} are allowed: send fewer events per request or a smaller batch context`,
    };
  }
  return bytes;
}

export function readBatch(body: unknown, limits: Pick<LimitsConfig, 'eventBytes' | 'requestBytes'> = defaultLimits): BatchRead {
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
  const sentAt = readSentAt(body.sentAt);
  const writeKey = writeKeyFromBody(body.writeKey);
  if (!writeKey.ok) return writeKey;
  const context = isObject(body.context) ? body.context : {};
  const contextBytes = contextRefusal(context, events.length, limits);
  if (typeof contextBytes !== 'number') return contextBytes;
  return { ok: true, batch: { events, sentAt, writeKey: writeKey.writeKey, context, contextBytes } };
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
  const { writeKey: rawWriteKey, sentAt, ...event } = body;
  const writeKey = writeKeyFromBody(rawWriteKey);
  if (!writeKey.ok) return writeKey;
  return {
    ok: true,
    batch: {
      events: [{ ...event, type }],
      sentAt: readSentAt(sentAt),
      writeKey: writeKey.writeKey,
      context: {},
      contextBytes: 0,
    },
  };
}
