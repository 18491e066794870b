// Applies collector/sql/migrations/NNN_name.sql in order, once each, recording them in schema_migrations,
// then (re)creates the analyst views of collector/sql/views/NNN_name.sql on every run: each view file
// drops and creates its views (18.16 has no CREATE OR REPLACE), so editing a view needs no migration.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertIdentifier, createWarehouseClient, type ClickHouseClient } from './client';

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

async function appliedVersions(client: ClickHouseClient): Promise<Set<number>> {
  const result = await client.query({ query: 'SELECT version FROM schema_migrations', format: 'JSONEachRow' });
  const rows = await result.json<{ version: number | string }>();
  return new Set(rows.map((row) => Number(row.version)));
}

/**
 * Creates `database` if needed and applies the migrations it has not seen yet.
 * Returns the versions applied by this call. Safe to run again: applied versions are skipped.
 */
export async function migrate(url: string, database: string, migrations = loadMigrations(), views = loadViewStatements()): Promise<number[]> {
  const server = createWarehouseClient(url);
  try {
    await server.command({ query: `CREATE DATABASE IF NOT EXISTS ${assertIdentifier(database)}` });
  } finally {
    await server.close();
  }
  const client = createWarehouseClient(url, database);
  try {
    await client.command({
      query: `CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime('UTC'))
              ENGINE = MergeTree ORDER BY version`,
    });
    const done = await appliedVersions(client);
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      for (const statement of migration.statements) await client.command({ query: statement });
      await client.insert({
        table: 'schema_migrations',
        values: [{ version: migration.version, name: migration.name, applied_at: Math.floor(Date.now() / 1000) }],
        format: 'JSONEachRow',
      });
      applied.push(migration.version);
    }
    for (const statement of views) await client.command({ query: statement });
    return applied;
  } finally {
    await client.close();
  }
}
