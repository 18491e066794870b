// Inserts rows that are already JSONEachRow text (as the spool keeps them) without parsing and
// serialising them again: the shipper's hot path.
import { Readable } from 'node:stream';
import { assertIdentifier, type ClickHouseClient } from './client';

/** Where the shipper writes: each call is one INSERT of newline-delimited JSON rows. */
export interface JsonLinesWriter {
  insertLines(table: 'events' | 'events_quarantine', chunks: Buffer[]): Promise<void>;
}

export function jsonLinesWriter(client: ClickHouseClient): JsonLinesWriter {
  return {
    async insertLines(table, chunks) {
      if (chunks.length === 0) return;
      const result = await client.exec({
        query: `INSERT INTO ${assertIdentifier(table)} FORMAT JSONEachRow`,
        values: Readable.from(chunks, { objectMode: false }),
      });
      // The answer to an INSERT is empty; read it to the end so the connection is reused.
      for await (const chunk of result.stream) void chunk;
    },
  };
}
