// Inserts rows that are already text (as the spool keeps them) without parsing and serialising them
// again: the shipper's hot path.
import { Readable } from 'node:stream';
import { assertIdentifier, type ClickHouseClient } from './client';
import { columnsOf, type RowTable } from './row-text';

/** ClickHouse input formats the spool holds: TabSeparated in the column order of row-text.ts, or JSONEachRow (older spools). */
export type LinesFormat = 'TabSeparated' | 'JSONEachRow';

/** Where the shipper writes: each call is one INSERT of newline-delimited rows. */
export interface LinesWriter {
  /** TabSeparated rows hold the first `columns` columns of the table's list in row-text.ts (all by default). */
  insertLines(table: RowTable, format: LinesFormat, chunks: Buffer[], columns?: number): Promise<void>;
}

function insertQuery(table: RowTable, format: LinesFormat, columns: number): string {
  const name = assertIdentifier(table);
  return format === 'TabSeparated' ? `INSERT INTO ${name} (${columnsOf[table].slice(0, columns).join(', ')}) FORMAT TabSeparated` : `INSERT INTO ${name} FORMAT JSONEachRow`;
}

export function linesWriter(client: ClickHouseClient): LinesWriter {
  return {
    async insertLines(table, format, chunks, columns = columnsOf[table].length) {
      if (chunks.length === 0) return;
      const result = await client.exec({ query: insertQuery(table, format, columns), values: Readable.from(chunks, { objectMode: false }) });
      // The answer to an INSERT is empty; read it to the end so the connection is reused.
      for await (const chunk of result.stream) void chunk;
    },
  };
}
