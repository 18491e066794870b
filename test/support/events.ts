// Builds `events` rows for tests through the collector's own validation and normalisation.
import { validateEvent } from '../../collector/ingest/event';
import { toEventRow, type EventRow } from '../../collector/ingest/normalize';

/** A Segment-spec event at `at` (epoch ms), delivered at once; throws if the event is invalid. */
export function eventRow(raw: Record<string, unknown>, at: number, source = 'web'): EventRow {
  const result = validateEvent({ ...raw, timestamp: new Date(at).toISOString() });
  if (!result.ok) throw new Error(result.reason);
  return toEventRow(result.event, { source, receivedAt: at, sentAt: at, ip: '', userAgent: '' });
}
