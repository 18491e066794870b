// Applies collector/sql/migrations/NNN_name.sql in order, once each, recording them in schema_migrations,
// then (re)creates the analyst views of collector/sql/views/NNN_name.sql on every run: each view file
// drops and creates its views (18.16 has no CREATE OR REPLACE), so editing a view needs no migration.
// Every collector does this at start, and several may start at once (a rolling deploy): all of it runs under
// the `migrations` lease (lease.ts), so one collector migrates while the others wait for it and then find
// nothing left to apply. Two at once applied each migration twice and interleaved the copy-and-swap steps of
// the migrations that rewrite data (036, 037); their view re-creations collided too.
// The warehouse jobs of the other collectors keep running meanwhile, and write what 036 and 037 rewrite (the
// staging tables, which a bucket rewrite fills and truncates, and identity_run_nodes, which a completed run
// empties). So when a migration is pending, the migrator also takes the jobs' leases (identity, segments) before
// applying it, waiting for their holders to give them up (jobs.ts does when it sees the migrations lease, at the
// end of a run under way), and holds them until it is done; lease.ts, "Migrations exclude the jobs", says why no
// job run can start meanwhile. Re-creating the views alone does not wait for the jobs.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultLeaseSeconds } from '../config';
import { str } from '../query/literal';
import { assertIdentifier, createWarehouseClient, type ClickHouseClient } from './client';
import { createLease, exclusively, LeaseWaitTimeout, migrationsLease, newHolderName, warehouseJobNames, whileHeld, type LeaseClaim } from './lease';

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
  /** How long to wait for the warehouse jobs' holders to give their jobs up before migrating (ms, 10 minutes by default). */
  jobsWaitMs?: number;
}

export const defaultPollMs = 1000;

/**
 * The bound on the wait for the jobs. A holder of this version gives its job up at its next renewal (a third of
 * its lease) or at the end of the run under way, and a dead one's lease expires (leaseSeconds): much less, unless
 * a run is very long. A holder that keeps its job this long is most likely of a version that never gives it up.
 */
export const defaultJobsWaitMs = 10 * 60_000;

/** A migration not applied because a collector kept running a warehouse job through the whole wait for it. */
export class JobsBusyError extends Error {
  readonly code = 'JOBS_BUSY';
  constructor(
    readonly database: string,
    readonly job: string,
    readonly holder: string | undefined,
    waitedMs: number,
  ) {
    super(
      `collector ${holder ?? '(unknown)'} did not give the warehouse job ${job} up within ${Math.round(waitedMs / 1000)} s, so database ${database} was not migrated: ` +
        `collectors of versions before the one that waits for the jobs never give a job up to a migration. Stop it, or set its identityIntervalSeconds ` +
        `and segmentIntervalSeconds to 0, then start this collector again`,
    );
  }
}

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

/** The migrations `client`'s database has not seen yet (read under the lease: a collector that waited sees what the one before it applied). */
async function pendingMigrations(client: ClickHouseClient, migrations: Migration[]): Promise<Migration[]> {
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime('UTC'))
            ENGINE = MergeTree ORDER BY version`,
  });
  const done = await appliedVersions(client);
  return migrations.filter((migration) => !done.has(migration.version));
}

/** Applies `pending` in order, recording each; the holder of the migrations and jobs' leases only. */
async function apply(client: ClickHouseClient, pending: Migration[]): Promise<number[]> {
  for (const migration of pending) {
    for (const statement of migration.statements) await runMigrationStatement(client, statement);
    await client.insert({
      table: 'schema_migrations',
      values: [{ version: migration.version, name: migration.name, applied_at: Math.floor(Date.now() / 1000) }],
      format: 'JSONEachRow',
    });
  }
  return pending.map((migration) => migration.version);
}

async function createViews(client: ClickHouseClient, views: string[]): Promise<void> {
  for (const statement of views) await client.command({ query: statement });
}

/**
 * Creates `database` if needed and applies the migrations it has not seen yet, holding the `migrations` lease:
 * while another collector holds it, waits (logging whom for) until it is released or expires. With migrations
 * pending it then takes the warehouse jobs' leases too, waiting (logging whom for) until their holders give
 * them up, at most jobsWaitMs (then throws JobsBusyError, applying nothing). A migration that fails releases
 * the leases and throws. Returns the versions applied by this call. Safe to run again: applied versions are
 * skipped.
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
    const leaseOptions = {
      holder: options.holder ?? newHolderName(),
      ttlMs: options.leaseMs ?? defaultLeaseSeconds * 1000,
      ...(options.settleMs === undefined ? {} : { settleMs: options.settleMs }),
    };
    const lease = createLease(client, { job: migrationsLease, ...leaseOptions });
    const statements = whileHeld(options.wrapClient ? options.wrapClient(client) : client, lease);
    const pollMs = options.pollMs ?? defaultPollMs;
    const onError = (name: string) => (error: unknown, step: 'renew' | 'release') =>
      log?.error({ err: error, database }, step === 'renew' ? `the ${name} lease could not be renewed (retried)` : `the ${name} lease could not be released; it expires by itself`);
    const onLost = (name: string) => () => log?.error({ database }, `this collector lost the ${name} lease; it stops before its next statement`);

    /**
     * Runs `work` holding the jobs' leases too, taken in one order (identity, segments) after `migrations`, by
     * the holder of `migrations` only: migrators never wait for each other's job leases. Their claims are
     * written through whileHeld(migrations), so the wait ends if the migrations lease is lost.
     */
    const jobsExcluded = async <T>(work: (client: ClickHouseClient) => Promise<T>): Promise<T> => {
      const jobLeases = warehouseJobNames.map((job) => createLease(whileHeld(client, lease), { job, ...leaseOptions }));
      const guarded = jobLeases.reduce((inner, jobLease) => whileHeld(inner, jobLease), statements);
      const waitMs = options.jobsWaitMs ?? defaultJobsWaitMs;
      const deadline = Date.now() + waitMs;
      const onWait = (job: string) => (leader: LeaseClaim) =>
        log?.info(
          { database, job, holder: leader.holder, until: new Date(leader.until).toISOString() },
          `waiting for collector ${leader.holder} to give up the warehouse job ${job} before migrating database ${database}: it does at the end of its run under way (its lease runs until ${new Date(leader.until).toISOString()} unless it renews it)`,
        );
      const holding = jobLeases.reduceRight<() => Promise<T>>(
        (inner, jobLease) => () =>
          exclusively(jobLease, inner, { pollMs, deadline, onWait: onWait(jobLease.job), onError: onError(jobLease.job), onLost: onLost(jobLease.job) }),
        () => work(guarded),
      );
      try {
        return await holding();
      } catch (error) {
        if (error instanceof LeaseWaitTimeout) throw new JobsBusyError(database, error.job, error.leader?.holder, waitMs);
        throw error;
      }
    };

    return await exclusively(
      lease,
      async () => {
        const pending = await pendingMigrations(statements, migrations);
        if (pending.length === 0) {
          await createViews(statements, views);
          return [];
        }
        return jobsExcluded(async (guarded) => {
          const applied = await apply(guarded, pending);
          await createViews(guarded, views);
          return applied;
        });
      },
      {
        pollMs,
        onWait: (leader) =>
          log?.info(
            { database, holder: leader.holder, until: new Date(leader.until).toISOString() },
            `waiting for collector ${leader.holder}, which is migrating database ${database} (its lease runs until ${new Date(leader.until).toISOString()} unless it renews it)`,
          ),
        onError: onError(migrationsLease),
        onLost: onLost(migrationsLease),
      },
    );
  } finally {
    await client.close();
  }
}
