// Rows as ClickHouse TabSeparated text: the format the collector spools and inserts. Against
// JSONEachRow it has no keys (a row is half the bytes) and no second escaping of the JSON columns, so
// it costs the collector's one busy thread a fraction of JSON.stringify per row. Lone UTF-16
// surrogates need no scan: encoding the text as UTF-8 turns each into U+FFFD.
import type { EventRow } from '../ingest/normalize';
import type { ConsentRefusalRow, QuarantineRow } from './events';

/**
 * The `events` columns in the order of a TabSeparated row (a test compares them with the table). A new
 * column goes at the end: spooled rows record how many of these they have (spool/payload.ts).
 */
export const eventColumns = [
  'message_id', 'source', 'type', 'event', 'name', 'anonymous_id', 'user_id', 'group_id', 'previous_id', 'session_id',
  'timestamp', 'timestamp_ms', 'original_timestamp', 'sent_at', 'received_at',
  'properties', 'traits', 'context',
  'page_url', 'page_path', 'page_referrer', 'page_title', 'campaign_source', 'campaign_medium', 'campaign_name',
  'consent', 'ip', 'user_agent', 'library_name', 'library_version', 'locale', 'timezone',
  'browser', 'browser_version', 'os', 'os_version', 'device_type', 'device_vendor', 'device_model', 'is_bot',
  'batch_position', 'context_identity',
] as const satisfies ReadonlyArray<keyof EventRow>;

export const quarantineColumns = ['received_at', 'source', 'reason', 'raw'] as const satisfies ReadonlyArray<keyof QuarantineRow>;

/** The `consent_refusals` columns (migrations/041_consent_refusals.sql), in the order of a TabSeparated row. */
export const refusalColumns = ['id_hash', 'id_kind', 'refused_on'] as const satisfies ReadonlyArray<keyof ConsentRefusalRow>;

export type RowTable = 'events' | 'events_quarantine' | 'consent_refusals';

export const columnsOf: Record<RowTable, readonly string[]> = { events: eventColumns, events_quarantine: quarantineColumns, consent_refusals: refusalColumns };

// ClickHouse reads these backslash escapes in TabSeparated strings (and writes them the same way).
const special = /[\\\t\n\r\0]/;
const specials = /[\\\t\n\r\0]/g;
const escapes: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' };
const unescapes: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r', '0': '\0' };

function field(value: string | number): string {
  if (typeof value === 'number') return String(value);
  return special.test(value) ? value.replace(specials, (c) => escapes[c] as string) : value;
}

// join() makes each line (and spool/payload.ts each request's text) one flat string at once: appending
// field by field built a rope that was copied flat again, about a fifth of the ingest path's allocations.
function line<Row>(row: Row, columns: ReadonlyArray<keyof Row>): string {
  return `${columns.map((column) => field(row[column] as string | number)).join('\t')}\n`;
}

/** One `events` row as a TabSeparated line, newline included. */
export const eventLine = (row: EventRow): string => line(row, eventColumns);

/** One `events_quarantine` row as a TabSeparated line, newline included. */
export const quarantineLine = (row: QuarantineRow): string => line(row, quarantineColumns);

/** One `consent_refusals` row as a TabSeparated line, newline included. */
export const refusalLine = (row: ConsentRefusalRow): string => line(row, refusalColumns);

/** The fields of one TabSeparated line (its newline, if any, dropped), unescaped. */
export function lineFields(text: string): string[] {
  return text.replace(/\n$/, '').split('\t').map((value) => value.replace(/\\(.)/g, (_, c: string) => unescapes[c] ?? c));
}
