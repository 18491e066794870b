// Applies collector/sql/migrations/NNN_name.sql in order, once each, recording them in schema_migrations,
// then (re)creates the analyst views of collector/sql/views/NNN_name.sql on every run: each view file
// drops and creates its views (18.16 has no CREATE OR REPLACE), so editing a view needs no migration.
// Every collector does this at start, and several may start at once (a rolling deploy): all of it runs under
// the `migrations` lease (lease.ts), so one collector migrates while the others wait for it and then find
// nothing left to apply. Two at once applied each migration twice and interleaved the copy-and-swap steps of
// the migrations that rewrite data (036, 037); their view re-creations collided too.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultLeaseSeconds } from '../config';
import { str } from '../query/literal';
import { assertIdentifier, createWarehouseClient, type ClickHouseClient } from './client';
import { createLease, exclusively, newHolderName, whileHeld } from './lease';

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'sql', 'migrations');
export const viewsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'sql', 'views');

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/** Splits a migration file into statements: each ends with `;` at the end of a line. */
export function splitStatements(sql: string): string[] {
  const withoutComments = sql
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n');
  return withoutComments
    .split(/;\s*$/m)
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}

export function loadMigrations(dir = migrationsDir): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d+_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => {
      const match = /^(\d+)_(.+)\.sql$/.exec(file);
      if (!match?.[1] || !match[2]) throw new Error(`bad migration file name: ${file}`);
      return { version: Number(match[1]), name: match[2], statements: splitStatements(readFileSync(join(dir, file), 'utf8')) };
    });
}

/** The statements of every view file, in file-name order (views may read earlier views). */
export function loadViewStatements(dir = viewsDir): string[] {
  return loadMigrations(dir).flatMap((view) => view.statements);
}

/** The migration that creates job_leases: the migrations lease lives there, so it runs before the lease is taken. */
export const leaseTableMigration = 'job_leases';

/**
 * The statements of migration 038 (job_leases), read from the migrations directory whatever list is being
 * applied. They are CREATE TABLE IF NOT EXISTS: run before every migration, and again as 038, they change nothing.
 */
export function leaseTableStatements(dir = migrationsDir): string[] {
  const migration = loadMigrations(dir).find((m) => m.name === leaseTableMigration);
  if (!migration) throw new Error(`the migration that creates job_leases (NNN_${leaseTableMigration}.sql) is missing from ${dir}`);
  return migration.statements;
}

export interface MigrationLogger {
  info(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface MigrateOptions {
  /** Says whom this collector waits for, and renewals or releases of the lease that failed; silent without. */
  log?: MigrationLogger;
  /** This migrator's name in job_leases; default host:pid:random. */
  holder?: string;
  /** How long the lease lasts without a renewal (ms): warehouseJobs.leaseSeconds, 60 s by default. */
  leaseMs?: number;
  /** The lease's settle delay (ms, lease.ts; 2000 by default); tests shorten it. */
  settleMs?: number;
  /** Between two looks at the lease while another collector migrates (ms, 1000 by default). */
  pollMs?: number;
  /** Wraps the client the migrations and views are sent through; tests record and pause statements with it. */
  wrapClient?: (client: ClickHouseClient) => ClickHouseClient;
}

export const defaultPollMs = 1000;

async function appliedVersions(client: ClickHouseClient): Promise<Set<number>> {
  const result = await client.query({ query: 'SELECT version FROM schema_migrations', format: 'JSONEachRow' });
  const rows = await result.json<{ version: number | string }>();
  return new Set(rows.map((row) => Number(row.version)));
}

/** The table and column of a statement that adds one column (`ALTER TABLE t ADD COLUMN c …`); undefined otherwise. */
export function addedColumn(statement: string): { table: string; column: string } | undefined {
  const match = /^ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\b/i.exec(statement);
  if (!match?.[1] || !match[2] || /\bADD\s+COLUMN\b/i.test(statement.slice(match[0].length))) return undefined;
  return { table: match[1], column: match[2] };
}

async function columnExists(client: ClickHouseClient, { table, column }: { table: string; column: string }): Promise<boolean> {
  const result = await client.query({
    query: `SELECT count() AS n FROM system.columns WHERE database = currentDatabase() AND table = ${str(table)} AND name = ${str(column)}`,
    format: 'JSONEachRow',
  });
  const [row] = await result.json<{ n: number | string }>();
  return Number(row?.n ?? 0) > 0;
}

/**
 * Runs one statement of a migration. A migration is recorded once all its statements ran, so one stopped midway
 * (a crash, a lost lease) runs again whole; 18.16 has no ADD COLUMN IF NOT EXISTS, so a column its first run
 * added is skipped instead of failing every later start (032, 034 and 039 add several columns, one ALTER each).
 */
async function runMigrationStatement(client: ClickHouseClient, statement: string): Promise<void> {
  const added = addedColumn(statement);
  if (added && (await columnExists(client, added))) return;
  await client.command({ query: statement });
}

/** Applies what `client`'s database has not seen of `migrations`, then re-creates the views; the lease's holder only. */
async function applyPending(client: ClickHouseClient, migrations: Migration[], views: string[]): Promise<number[]> {
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime('UTC'))
            ENGINE = MergeTree ORDER BY version`,
  });
  // Read under the lease: a collector that waited sees what the one before it applied.
  const done = await appliedVersions(client);
  const applied: number[] = [];
  for (const migration of migrations) {
    if (done.has(migration.version)) continue;
    for (const statement of migration.statements) await runMigrationStatement(client, statement);
    await client.insert({
      table: 'schema_migrations',
      values: [{ version: migration.version, name: migration.name, applied_at: Math.floor(Date.now() / 1000) }],
      format: 'JSONEachRow',
    });
    applied.push(migration.version);
  }
  for (const statement of views) await client.command({ query: statement });
  return applied;
}

/**
 * Creates `database` if needed and applies the migrations it has not seen yet, holding the `migrations` lease:
 * while another collector holds it, waits (logging whom for) until it is released or expires. A migration that
 * fails releases the lease and throws. Returns the versions applied by this call. Safe to run again: applied
 * versions are skipped.
 */
export async function migrate(
  url: string,
  database: string,
  migrations = loadMigrations(),
  views = loadViewStatements(),
  options: MigrateOptions = {},
): Promise<number[]> {
  const server = createWarehouseClient(url);
  try {
    await server.command({ query: `CREATE DATABASE IF NOT EXISTS ${assertIdentifier(database)}` });
  } finally {
    await server.close();
  }
  const { log } = options;
  const client = createWarehouseClient(url, database);
  try {
    // The lease's own table first (idempotent, so collectors starting together may all run it).
    for (const statement of leaseTableStatements()) await client.command({ query: statement });
    const lease = createLease(client, {
      job: 'migrations',
      holder: options.holder ?? newHolderName(),
      ttlMs: options.leaseMs ?? defaultLeaseSeconds * 1000,
      ...(options.settleMs === undefined ? {} : { settleMs: options.settleMs }),
    });
    const statements = whileHeld(options.wrapClient ? options.wrapClient(client) : client, lease);
    return await exclusively(lease, () => applyPending(statements, migrations, views), {
      pollMs: options.pollMs ?? defaultPollMs,
      onWait: (leader) =>
        log?.info(
          { database, holder: leader.holder, until: new Date(leader.until).toISOString() },
          `waiting for collector ${leader.holder}, which is migrating database ${database} (its lease runs until ${new Date(leader.until).toISOString()} unless it renews it)`,
        ),
      onError: (error, step) =>
        log?.error(
          { err: error, database },
          step === 'renew' ? 'the migrations lease could not be renewed (retried)' : 'the migrations lease could not be released; it expires by itself',
        ),
      onLost: () => log?.error({ database }, 'this collector lost the migrations lease; it stops before its next statement'),
    });
  } finally {
    await client.close();
  }
}
