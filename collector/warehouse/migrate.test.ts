import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitUntil, type TestDatabase } from '../../test/support/clickhouse';
import { validateEvent } from '../ingest/event';
import { toEventRow } from '../ingest/normalize';
import { createWarehouseClient, type ClickHouseClient } from './client';
import { loadRows } from './generator/load';
import { sha256 } from './identity/identifiers';
import { runIdentityJob } from './identity/job';
import { loadMigrations, loadViewStatements, migrate, splitStatements, viewsDir } from './migrate';
import { segmentStore } from './segments';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('migrate');
});
afterAll(() => db.drop());

interface OlderDatabase {
  database: string;
  client: ClickHouseClient;
  /** Rows of a query, 64-bit integers as numbers. */
  read(query: string): Promise<unknown[]>;
}

/** A database of its own migrated up to (not including) migration `before`, to test what later ones do to stored rows; dropped after `check`. */
async function withOlderDatabase(suffix: string, before: number, check: (older: OlderDatabase) => Promise<void>): Promise<void> {
  const database = `${db.database}_${suffix}`;
  await migrate(db.url, database, loadMigrations().filter((m) => m.version < before), []);
  const client = createWarehouseClient(db.url, database);
  const read = async (query: string) => (await client.query({ query, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json();
  try {
    await check({ database, client, read });
  } finally {
    await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await client.close();
  }
}

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

  it('give rows stored before 032_order_ids their order_id and revenue_given, so their orders deduplicate too', async () => {
    await withOlderDatabase('old', 32, async ({ database, client, read }) => {
      // What the identity job stored before the migration (no order_id, revenue_given columns yet).
      const row = (id: string, event: string, properties: string, revenue: number) =>
        `('user:u1', cityHash64('user:u1'), 'user:u1', cityHash64('user:u1'), 3, '${id}', '${event}', toDateTime('2025-03-0${id.length} 10:00:00', 'UTC'), ${revenue}, '${properties}')`;
      await client.command({
        query: `INSERT INTO person_events_stored (person_id, person_key, node, node_key, bucket, message_id, event, timestamp, revenue, properties) VALUES
          ${row('m1', 'Order Completed', '{"order_id":"x","revenue":20}', 20)}, ${row('m22', 'Order Completed', '{"order_id":"x","revenue":20}', 20)},
          ${row('m333', 'Order Refunded', '{"order_id":"x"}', 0)}`,
      });
      await migrate(db.url, database);
      expect(await read('SELECT message_id, order_id, revenue_given FROM person_events_stored ORDER BY message_id')).toEqual([
        { message_id: 'm1', order_id: 'x', revenue_given: 1 },
        { message_id: 'm22', order_id: 'x', revenue_given: 1 },
        { message_id: 'm333', order_id: 'x', revenue_given: 0 },
      ]);
      expect(await read('SELECT orders, gross_revenue, refunded FROM customer_value')).toEqual([{ orders: 1, gross_revenue: 20, refunded: 20 }]);
    });
  });

  it('give rows stored before 034_event_order their second as ms, so sessions and paths keep them in time order', async () => {
    await withOlderDatabase('order', 34, async ({ database, client, read }) => {
      // What the identity job stored before the migration: whole seconds only. message_ids sort against time.
      const row = (id: string, path: string, second: number) =>
        `('user:u1', cityHash64('user:u1'), 'user:u1', cityHash64('user:u1'), 3, '${id}', 'page', toDateTime('2025-03-01 10:00:0${second}', 'UTC'), '${path}')`;
      await client.command({
        query: `INSERT INTO person_events_stored (person_id, person_key, node, node_key, bucket, message_id, type, timestamp, page_path) VALUES
          ${row('m-c', '/', 1)}, ${row('m-b', '/catalog', 2)}, ${row('m-a', '/cart', 3)}`,
      });
      await migrate(db.url, database);
      const at = Date.UTC(2025, 2, 1, 10, 0, 0);
      expect(await read('SELECT message_id, timestamp_ms, batch_position FROM person_events_stored ORDER BY message_id')).toEqual([
        { message_id: 'm-a', timestamp_ms: at + 3000, batch_position: 0 },
        { message_id: 'm-b', timestamp_ms: at + 2000, batch_position: 0 },
        { message_id: 'm-c', timestamp_ms: at + 1000, batch_position: 0 },
      ]);
      expect(await read('SELECT steps, landing_page, exit_page FROM session_paths ALL INNER JOIN sessions USING (person_id, session_index)')).toEqual([
        { steps: ['page /', 'page /catalog', 'page /cart'], landing_page: '/', exit_page: '/cart' },
      ]);
      // REPLACE PARTITION (the identity job's bucket rewrites) needs the staging twin's structure to stay the same.
      const columns = (table: string) => read(`DESCRIBE TABLE ${table}`);
      expect(await columns('person_events_staging')).toEqual(await columns('person_events_stored'));
    });
  });

  it('keep segments saved before 033_segment_deleted, as not deleted', async () => {
    await withOlderDatabase('seg', 33, async ({ database, client, read }) => {
      await client.command({ query: `INSERT INTO segments (segment_id, name, rule, created_at, version) VALUES ('seg_old', 'Old', '{"metric":"orders","op":"gte","value":1}', toDateTime('2025-03-01 10:00:00', 'UTC'), 1)` });
      await migrate(db.url, database);
      expect(await read('SELECT segment_id, deleted FROM segments')).toEqual([{ segment_id: 'seg_old', deleted: 0 }]);
      expect((await segmentStore(client).list()).map((s) => s.id)).toContain('seg_old');
    });
  });

  it('give rows stored before 035_numeric_order_ids a numeric order_id as its text, so their orders deduplicate and refunds match', async () => {
    await withOlderDatabase('num', 32, async ({ database, client, read }) => {
      const row = (id: string, event: string, properties: string, revenue: number, orderId?: string) =>
        `('user:u1', cityHash64('user:u1'), 'user:u1', cityHash64('user:u1'), 3, '${id}', '${event}', toDateTime('2025-03-0${id.length} 10:00:00', 'UTC'), ${revenue}, '${properties}'${orderId === undefined ? '' : `, '${orderId}'`})`;
      const columns = 'person_id, person_key, node, node_key, bucket, message_id, event, timestamp, revenue, properties';
      // Stored before 032 (no order_id data: its DEFAULT is computed when read).
      await client.command({ query: `INSERT INTO person_events_stored (${columns}) VALUES ${row('m1', 'Order Completed', '{"order_id":7,"revenue":20}', 20)}` });
      await migrate(db.url, database, loadMigrations().filter((m) => m.version < 35), []);
      // Written by the identity job between 032 and 035: a number gave ''.
      await client.command({
        query: `INSERT INTO person_events_stored (${columns}, order_id) VALUES
          ${row('m22', 'Order Completed', '{"order_id":"7","revenue":20}', 20, '7')}, ${row('m333', 'Order Refunded', '{"order_id":7}', 0, '')},
          ${row('m4444', 'Order Completed', '{"revenue":5}', 5, '')}`,
      });
      await migrate(db.url, database);
      // The UPDATE runs in the background.
      await waitUntil(
        async () => (await client.query({ query: `SELECT count() AS n FROM system.mutations WHERE database = '${database}' AND is_done = 0`, format: 'JSONEachRow' })).json<{ n: string }>(),
        (rows) => Number(rows[0]?.n) === 0,
      );
      expect(await read('SELECT message_id, order_id FROM person_events_stored ORDER BY message_id')).toEqual([
        { message_id: 'm1', order_id: '7' },
        { message_id: 'm22', order_id: '7' },
        { message_id: 'm333', order_id: '7' },
        { message_id: 'm4444', order_id: '' },
      ]);
      expect(await read('SELECT orders, gross_revenue, refunded FROM customer_value')).toEqual([{ orders: 2, gross_revenue: 25, refunded: 20 }]);
      // The staging table keeps person_events_stored's structure (REPLACE PARTITION needs it).
      expect(await read(`SELECT table, default_expression FROM system.columns WHERE database = '${database}' AND table IN ('person_events_stored', 'person_events_staging') AND name = 'order_id' ORDER BY table`)).toEqual([
        { table: 'person_events_staging', default_expression: expect.stringContaining('visitParamExtractRaw') },
        { table: 'person_events_stored', default_expression: expect.stringContaining('visitParamExtractRaw') },
      ]);
    });
  });

  it('take events stored without ids out of the person_days rollup (036), the rows already rolled up and those written after', async () => {
    await withOlderDatabase('days', 36, async ({ database, client, read }) => {
      const row = (person: string, bucket: number, id: string, day: string) =>
        `('${person}', cityHash64('${person}'), '${person}', cityHash64('${person}'), ${bucket}, '${id}', 'Product Viewed', toDateTime('2025-03-${day} 10:00:00', 'UTC'))`;
      const columns = 'person_id, person_key, node, node_key, bucket, message_id, event, timestamp';
      const insert = (table: string, rows: string[]) => client.command({ query: `INSERT INTO ${table} (${columns}) VALUES ${rows.join(', ')}` });
      // Rolled up before 036: a person's events in buckets 3 and 7 (two identifiers), stripped events in 5 and 7.
      await insert('person_events_stored', [row('user:u1', 3, 'm1', '01'), row('user:u1', 3, 'm2', '02'), row('event:m3', 5, 'm3', '01'), row('event:m4', 7, 'm4', '02')]);
      await insert('person_events_stored', [row('user:u1', 7, 'm5', '02')]);
      const days = () => read(`SELECT person_key = cityHash64('user:u1') AS u1, day, sum(events) AS n FROM person_days_stored GROUP BY person_key, day ORDER BY u1, day`);
      expect((await days()).length).toBe(4);
      await migrate(db.url, database);
      const u1 = [{ u1: 1, day: '2025-03-01', n: 1 }, { u1: 1, day: '2025-03-02', n: 2 }];
      expect(await days()).toEqual(u1);
      expect(await read('SELECT count() AS n FROM person_days_staging')).toEqual([{ n: 0 }]);
      // Written after it: appended by the identity job, then rewritten through the staging table (a squash).
      await insert('person_events_stored', [row('event:m6', 9, 'm6', '03'), row('user:u1', 9, 'm7', '03')]);
      expect(await days()).toEqual([...u1, { u1: 1, day: '2025-03-03', n: 1 }]);
      await insert('person_events_staging', [row('event:m8', 9, 'm8', '04'), row('user:u1', 9, 'm9', '04')]);
      await client.command({ query: 'ALTER TABLE person_days_stored REPLACE PARTITION 9 FROM person_days_staging' });
      expect(await days()).toEqual([...u1, { u1: 1, day: '2025-03-04', n: 1 }]);
    });
  });

  it('take crawlers’ events out of person_events, person_days and the identity graph (037), keeping a backend’s that older versions flagged', async () => {
    await withOlderDatabase('bots', 37, async ({ database, client, read }) => {
      // The views, to look before; not the segment views, which read a column of a later migration (039).
      const personViews = loadMigrations(viewsDir).filter((v) => v.name !== 'segments').flatMap((v) => v.statements);
      await migrate(db.url, database, loadMigrations().filter((m) => m.version < 37), personViews);
      const at = Date.UTC(2026, 3, 7, 10);
      const chrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
      const headless = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36';
      const tag = { library: { name: 'tagflow' } };
      const event = (raw: Record<string, unknown>, minute: number, userAgent: string) => {
        const parsed = validateEvent({ ...raw, timestamp: new Date(at + minute * 60_000).toISOString() });
        if (!parsed.ok) throw new Error(parsed.reason);
        // Loaded unflagged: versions before 037 stored crawlers' events like anyone's (flagged below, as they were).
        return { ...toEventRow(parsed.event, { source: 'web', receivedAt: at + 10 * 60_000, sentAt: undefined, ip: '', userAgent }), is_bot: 0 };
      };
      await loadRows(client, [
        event({ type: 'identify', messageId: 'ann-1', anonymousId: 'anon-ann', userId: 'ann', traits: { email: 'ann@example.com' }, context: tag }, 0, chrome),
        event({ type: 'page', messageId: 'ann-2', anonymousId: 'anon-ann', userId: 'ann', properties: { path: '/shoes' }, context: tag }, 1, chrome),
        event({ type: 'track', messageId: 'ann-3', anonymousId: 'anon-ann', userId: 'ann', event: 'Order Completed', properties: { order_id: 'o-1', revenue: 50 }, context: tag }, 2, chrome),
        // A synthetic monitor logs in with the shopper's e-mail, as an account named before hers: she became it.
        event({ type: 'identify', messageId: 'bot-1', anonymousId: 'anon-monitor', userId: 'aaa-monitor', traits: { email: 'ann@example.com' }, context: tag }, 3, headless),
        event({ type: 'page', messageId: 'bot-2', anonymousId: 'anon-monitor', userId: 'aaa-monitor', properties: { path: '/shoes' }, context: tag }, 4, headless),
        // The shop's backend refunds with Node's fetch, naming no library: older versions flagged that too.
        event({ type: 'track', messageId: 'backend-1', userId: 'ann', event: 'Order Refunded', properties: { order_id: 'o-1', revenue: 10 } }, 5, 'node'),
      ]);
      const overlapSeconds = 10 * 365 * 86_400;
      await runIdentityJob(client, { overlapSeconds });
      await client.command({ query: "ALTER TABLE events UPDATE is_bot = 1 WHERE message_id IN ('bot-1', 'bot-2', 'backend-1')" });
      await waitUntil(
        async () => (await client.query({ query: `SELECT count() AS n FROM system.mutations WHERE database = '${database}' AND is_done = 0`, format: 'JSONEachRow' })).json<{ n: string }>(),
        (rows) => Number(rows[0]?.n) === 0,
      );
      const profile = () => read('SELECT person_id, identifiers, page_views, orders, revenue FROM profiles');
      const email = `email:${sha256('ann@example.com')}`;
      expect(await profile()).toEqual([
        { person_id: 'user:aaa-monitor', identifiers: ['anon:anon-ann', 'anon:anon-monitor', email, 'user:aaa-monitor', 'user:ann'], page_views: 2, orders: 1, revenue: 40 },
      ]);

      await migrate(db.url, database);
      const stored = () => read('SELECT message_id FROM person_events_stored ORDER BY message_id');
      const kept = ['ann-1', 'ann-2', 'ann-3', 'backend-1'].map((message_id) => ({ message_id }));
      expect(await stored()).toEqual(kept);
      const days = () => read('SELECT person_key, day, sum(events) AS n FROM person_days GROUP BY person_key, day ORDER BY person_key, day');
      const daysOfEvents = () => read('SELECT person_key, toDate(timestamp) AS day, count() AS n FROM person_events GROUP BY person_key, day ORDER BY person_key, day');
      expect(await days()).toEqual(await daysOfEvents());
      expect(await read('SELECT count() AS n FROM person_days_staging')).toEqual([{ n: 0 }]);
      expect(await read('SELECT DISTINCT message_id FROM identity_edges ORDER BY message_id')).toEqual([{ message_id: 'ann-1' }]);
      expect(await read('SELECT node FROM identity_run_nodes ORDER BY node')).toEqual(['anon:anon-monitor', email, 'user:aaa-monitor'].map((node) => ({ node })));

      // The next identity run re-resolves what the monitor's login had merged; its identifiers are their own again.
      await runIdentityJob(client, { overlapSeconds });
      expect(await read("SELECT identifier, person_id FROM identities_current WHERE identifier NOT LIKE 'email:%' ORDER BY identifier")).toEqual([
        { identifier: 'anon:anon-ann', person_id: 'user:ann' },
        { identifier: 'anon:anon-monitor', person_id: 'anon:anon-monitor' },
        { identifier: 'user:aaa-monitor', person_id: 'user:aaa-monitor' },
        { identifier: 'user:ann', person_id: 'user:ann' },
      ]);
      const ann = [{ person_id: 'user:ann', identifiers: ['anon:anon-ann', email, 'user:ann'], page_views: 1, orders: 1, revenue: 40 }];
      expect(await profile()).toEqual(ann);
      expect(await days()).toEqual(await daysOfEvents());

      // Interrupted, it is run again whole: every statement can be repeated.
      for (const statement of loadMigrations().find((m) => m.version === 37)?.statements ?? []) await client.command({ query: statement });
      await runIdentityJob(client, { overlapSeconds });
      expect(await stored()).toEqual(kept);
      expect(await profile()).toEqual(ann);
    });
  });

  it('split files on semicolons at line ends, ignoring comment lines', () => {
    expect(splitStatements('-- a comment; still a comment\nCREATE TABLE a (x String);\n\nSELECT \'x;y\';\n')).toEqual([
      'CREATE TABLE a (x String)',
      "SELECT 'x;y'",
    ]);
  });
});
