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

/**
 * A refusal of marketing whose event lost its ids at ingest (ingest/consent-refusal.ts,
 * migrations/041_consent_refusals.sql): the id's hash, its kind, and the day it was received. Nothing else.
 */
export interface ConsentRefusalRow {
  /** Lower-case SHA-256 hex of the userId or anonymousId as the identity graph names it (after `user:`/`anon:`). */
  id_hash: string;
  /** 'user' or 'anon', as the identity graph's node prefixes. */
  id_kind: 'user' | 'anon';
  /** The collector's receive day, UTC, `YYYY-MM-DD`. */
  refused_on: string;
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
