// Rows ClickHouse refuses even as quarantine rows: appended, durably, to refused.jsonl beside the spool,
// so the shipper can move on without losing them. Rare by design (a quarantine row is four plain
// columns); an operator replays or inspects the file by hand.
import { open } from 'node:fs/promises';
import { join } from 'node:path';

export const refusedFileName = 'refused.jsonl';

/** One line of refused.jsonl. */
export interface RefusedRecord {
  /** When it was set aside (ISO 8601). */
  at: string;
  /** The table the row was meant for. */
  table: string;
  /** Why ClickHouse refused it (and its quarantine row, when there was one). */
  reason: string;
  /** The row, column by column (or `{ line }` when its fields did not match the columns). */
  row: Record<string, unknown>;
}

/** Appends `record` to `dir`/refused.jsonl and returns once it is on disk. */
export async function appendRefused(dir: string, record: RefusedRecord): Promise<string> {
  const path = join(dir, refusedFileName);
  const file = await open(path, 'a');
  try {
    await file.write(`${JSON.stringify(record)}\n`);
    await file.datasync();
  } finally {
    await file.close();
  }
  return path;
}
