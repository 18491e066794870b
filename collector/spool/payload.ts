// What one request leaves in the spool, per table with rows: [format code][row count, u32][column
// count, u8][row text]. Rows are written as TabSeparated text with the first `column count` columns of
// row-text.ts (columns are only ever added at the end of those lists, so rows spooled before an
// upgrade that added one are still inserted with the columns they have). Payloads of older versions
// hold JSONEachRow text, plain or raw-deflated, without the column count, and are still read. A
// version older than this one cannot read these payloads: downgrading needs an empty spool.
import { inflateRawSync } from 'node:zlib';
import type { EventRow } from '../ingest/normalize';
import type { ConsentRefusalRow, QuarantineRow } from '../warehouse/events';
import type { LinesFormat } from '../warehouse/lines';
import { columnsOf, eventLine, quarantineLine, refusalLine, type RowTable } from '../warehouse/row-text';

export interface SpoolRecord {
  events: EventRow[];
  quarantine: QuarantineRow[];
  /** Marketing refusals of events that lost their ids (ingest/consent-refusal.ts); none when absent. */
  refusals?: ConsentRefusalRow[];
}

export interface DecodedPayload {
  table: RowTable;
  format: LinesFormat;
  rows: number;
  /** TabSeparated: how many of the table's columns (row-text.ts) each row has, in order; else 0. */
  columns: number;
  /** The rows' text, one row a line. */
  lines: Buffer;
}

interface Code {
  table: RowTable;
  format: LinesFormat;
  deflated: boolean;
}

// Plain TabSeparated since deflate went: a request's TabSeparated rows are about half its JSONEachRow
// bytes, and deflating them cost the one busy thread more (zlib set-up per request) than the larger
// O_DSYNC write costs the acknowledgement (measured in bench/RESULTS.md).
const codes = new Map<number, Code>([
  [0x56, { table: 'events', format: 'TabSeparated', deflated: false }], // 'V'
  [0x57, { table: 'events_quarantine', format: 'TabSeparated', deflated: false }], // 'W'
  [0x58, { table: 'consent_refusals', format: 'TabSeparated', deflated: false }], // 'X'
  [0x45, { table: 'events', format: 'JSONEachRow', deflated: false }], // 'E'
  [0x51, { table: 'events_quarantine', format: 'JSONEachRow', deflated: false }], // 'Q'
  [0x65, { table: 'events', format: 'JSONEachRow', deflated: true }], // 'e'
  [0x71, { table: 'events_quarantine', format: 'JSONEachRow', deflated: true }], // 'q'
]);
const writeCodes: Record<RowTable, number> = { events: 0x56, events_quarantine: 0x57, consent_refusals: 0x58 };

/** One payload as parts for Spool.append: the header, then the row text. */
export type SpoolPayload = readonly [header: Buffer, text: string];

function payload(table: RowTable, rows: number, text: string): SpoolPayload {
  const header = Buffer.allocUnsafe(6);
  header.writeUInt8(writeCodes[table], 0);
  header.writeUInt32BE(rows, 1);
  header.writeUInt8(columnsOf[table].length, 5);
  return [header, text];
}

/**
 * One payload per table with rows. The row text stays a string until the spool writes it into its
 * group-commit buffer: no per-request copy of it off the heap.
 */
export function encodeSpoolRecord(record: SpoolRecord): SpoolPayload[] {
  const payloads: SpoolPayload[] = [];
  if (record.quarantine.length > 0) payloads.push(payload('events_quarantine', record.quarantine.length, record.quarantine.map(quarantineLine).join('')));
  const refusals = record.refusals ?? [];
  if (refusals.length > 0) payloads.push(payload('consent_refusals', refusals.length, refusals.map(refusalLine).join('')));
  if (record.events.length > 0) payloads.push(payload('events', record.events.length, record.events.map(eventLine).join('')));
  return payloads;
}

/** The table, format and row text of one payload; throws SpoolPayloadError for a code it does not know. */
export function decodeSpoolPayload(buffer: Buffer): DecodedPayload {
  const code = codes.get(buffer.readUInt8(0));
  if (!code) throw new SpoolPayloadError(`unknown spool payload code ${buffer.readUInt8(0)}`);
  const rows = buffer.readUInt32BE(1);
  if (code.format === 'JSONEachRow') {
    const body = buffer.subarray(5);
    return { table: code.table, format: code.format, rows, columns: 0, lines: code.deflated ? inflateRawSync(body) : body };
  }
  const columns = buffer.readUInt8(5);
  if (columns > columnsOf[code.table].length) throw new SpoolPayloadError(`a spool payload has ${columns} ${code.table} columns; this version knows ${columnsOf[code.table].length}`);
  return { table: code.table, format: code.format, rows, columns, lines: buffer.subarray(6) };
}

/** A spool record whose checksum is fine but whose payload this version cannot read. */
export class SpoolPayloadError extends Error {
  readonly code = 'SPOOL_PAYLOAD_UNKNOWN';
}
