// Cuts the queue into requests by count and bytes, and writes a request body.
import type { QueuedEvent } from './queue';

/** Room kept for the body's envelope ({"batch":[...],"sentAt","writeKey"}). */
const envelopeBytes = 200;

/** The oldest events that fit in one request: at most `maxCount`, at most `maxBytes` (always at least one). */
export function takeBatch(items: QueuedEvent[], maxCount: number, maxBytes: number): QueuedEvent[] {
  let bytes = envelopeBytes;
  let count = 0;
  for (const item of items) {
    bytes += item.b + 1; // and a comma
    if (count && (count >= maxCount || bytes > maxBytes)) break;
    count++;
  }
  return items.slice(0, count);
}

/** The body of POST /v1/batch from queued events (already JSON); `sentAt` is set at each send so the collector can correct clock skew. */
export function batchBody(items: QueuedEvent[], writeKey: string, sentAt = new Date()): string {
  return `{"batch":[${items.map((item) => item.s)}],"sentAt":"${sentAt.toISOString()}","writeKey":${JSON.stringify(writeKey)}}`;
}
