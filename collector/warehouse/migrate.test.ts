import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { validateEvent } from '../ingest/event';
import { toEventRow } from '../ingest/normalize';
import { loadMigrations, loadViewStatements, migrate, splitStatements } from './migrate';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('migrate');
});
afterAll(() => db.drop());

describe('migrations', () => {
  it('are recorded once and a second run applies nothing', async () => {
    const recorded = await db.rows<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(recorded.map((r) => r.version)).toEqual(loadMigrations().map((m) => m.version));
    expect(await migrate(db.url, db.database)).toEqual([]);
    const again = await db.rows<{ n: number }>('SELECT count() AS n FROM schema_migrations');
    expect(again[0]?.n).toBe(recorded.length);
  });

  it('give the events table exactly the columns the collector writes', async () => {
    const columns = await db.rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${db.database}' AND table = 'events'`);
    const parsed = validateEvent({ type: 'page', anonymousId: 'a' });
    if (!parsed.ok) throw new Error(parsed.reason);
    const row = toEventRow(parsed.event, { source: 's', receivedAt: Date.now(), sentAt: undefined, ip: '', userAgent: '' });
    expect(columns.map((c) => c.name).sort()).toEqual(Object.keys(row).sort());
  });

  it('re-create every analyst view on each run, so a second run leaves them in place', async () => {
    const views = async () =>
      (await db.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${db.database}' AND engine = 'View' ORDER BY name`)).map((r) => r.name);
    const before = await views();
    expect(before).toEqual(expect.arrayContaining(['events_dedup', 'person_events', 'profiles', 'sessions', 'ecommerce_funnel_daily', 'retention_weekly', 'ltv_cohort_monthly', 'cx_monthly', 'web_vitals', 'segment_members_current']));
    await migrate(db.url, db.database);
    expect(await views()).toEqual(before);
    expect(loadViewStatements().filter((s) => s.startsWith('CREATE VIEW')).length).toBe(before.length);
  });

  it('split files on semicolons at line ends, ignoring comment lines', () => {
    expect(splitStatements('-- a comment; still a comment\nCREATE TABLE a (x String);\n\nSELECT \'x;y\';\n')).toEqual([
      'CREATE TABLE a (x String)',
      "SELECT 'x;y'",
    ]);
  });
});
