// The pseudonymous record of a refusal: an event whose consent denies analytics loses its ids (policy `strip`)
// or is not stored (`drop`), so without this its consent would never reach the person it came from, and a
// withdrawal of marketing consent sent with it ("reject all") would not be honoured by the exports to ad
// platforms. Pure: the rows go to the spool with the request's events.
import { createHash } from 'node:crypto';
import type { ConsentRecordRow } from '../warehouse/events';
import { asText, isObject } from './event';
import { toDateTimeText } from './normalize';

/** Lower-case SHA-256 hex: the form ClickHouse's `lower(hex(SHA256(x)))` gives, which the export compares with. */
export const idHash = (id: string): string => createHash('sha256').update(id, 'utf8').digest('hex');

/** What a record needs besides the event: when it happened (as its row would store it) and where. */
export interface RecordFacts {
  source: string;
  receivedAt: number;
  /** The event's corrected time in ms (eventTimes), or the received time when it has no plausible one. */
  timeMs: number;
  /** The event's index in its batch. */
  position: number;
  /** The consent as applied, JSON. */
  consent: string;
}

/**
 * One row per id the event carried (its userId and its anonymousId, as the identity graph names them), hashed:
 * none when it carried neither. `raw` is the event as sent, valid or not: a refusal counts whatever else is wrong.
 */
export function consentRecords(raw: unknown, facts: RecordFacts): ConsentRecordRow[] {
  if (!isObject(raw)) return [];
  const ids: Array<[ConsentRecordRow['id_kind'], string]> = [
    ['user', asText(raw.userId)],
    ['anon', asText(raw.anonymousId)],
  ];
  return ids
    .filter(([, id]) => id !== '')
    .map(([kind, id]) => ({
      id_hash: idHash(id),
      id_kind: kind,
      timestamp: toDateTimeText(facts.timeMs),
      timestamp_ms: facts.timeMs,
      batch_position: facts.position,
      source: facts.source,
      consent: facts.consent,
      message_id: asText(raw.messageId),
      received_at: toDateTimeText(facts.receivedAt),
    }));
}
