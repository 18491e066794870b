// Each test file gets its own database with the migrations applied, so files run in parallel.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { str } from '../../collector/query/literal';
import { createWarehouseClient, type ClickHouseClient } from '../../collector/warehouse/client';
import { loadMigrations, loadViewStatements, migrate } from '../../collector/warehouse/migrate';

/**
 * The migrations lease's settle delay for a test's own database: nobody else migrates it at the same time, so
 * the 2 s that collectors sharing a database need would only slow every test file down.
 */
export const privateSettleMs = 20;

export interface TestDatabase {
  url: string;
  database: string;
  client: ClickHouseClient;
  /** Rows of a query, 64-bit integers as numbers. */
  rows<T>(query: string): Promise<T[]>;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 'test'): Promise<TestDatabase> {
  const url = inject('clickhouseUrl');
  const database = `tf_${prefix}_${randomBytes(4).toString('hex')}`;
  await migrate(url, database, loadMigrations(), loadViewStatements(), { settleMs: privateSettleMs });
  const client = createWarehouseClient(url, database);
  return {
    url,
    database,
    client,
    async rows<T>(query: string) {
      const result = await client.query({ query, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
      return result.json<T>();
    },
    async drop() {
      await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await client.close();
    },
  };
}

/** The persons `identities_current` maps an identifier to (none for an identifier the identity job never saw). */
export async function personsOf(db: Pick<TestDatabase, 'rows'>, identifier: string): Promise<string[]> {
  const rows = await db.rows<{ person_id: string }>(`SELECT person_id FROM identities_current WHERE identifier = ${str(identifier)}`);
  return rows.map((row) => row.person_id);
}

/** Polls `check` until it returns a value that `done` accepts; fails with the last value after `timeoutMs`. */
export async function waitUntil<T>(check: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await check();
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await check();
  }
  return last;
}
