// Writes rows to ClickHouse. Only warehouse/ talks to ClickHouse.
import type { ClickHouseClient } from './client';
import type { EventRow } from '../ingest/normalize';

/** A refused event, kept with its reason. */
export interface QuarantineRow {
  received_at: string;
  source: string;
  reason: string;
  raw: string;
}

/** The warehouse operations the HTTP layer needs; tests pass the real one. */
export interface Warehouse {
  insertEvents(rows: EventRow[]): Promise<void>;
  quarantine(rows: QuarantineRow[]): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export function clickhouseWarehouse(client: ClickHouseClient): Warehouse {
  return {
    async insertEvents(rows) {
      if (rows.length > 0) await client.insert({ table: 'events', values: rows, format: 'JSONEachRow' });
    },
    async quarantine(rows) {
      if (rows.length > 0) await client.insert({ table: 'events_quarantine', values: rows, format: 'JSONEachRow' });
    },
    async ping() {
      const result = await client.ping();
      return result.success;
    },
    close: () => client.close(),
  };
}
