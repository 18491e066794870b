import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitUntil, type TestDatabase } from '../../test/support/clickhouse';
import { validateEvent } from '../ingest/event';
import { toEventRow } from '../ingest/normalize';
import { createWarehouseClient, type ClickHouseClient } from './client';
import { loadRows } from './generator/load';
import { sha256 } from './identity/identifiers';
import { runIdentityJob } from './identity/job';
import { startWarehouseJobs, type JobLogger } from './jobs';
import { addedColumn, loadMigrations, loadViewStatements, migrate as migrateWith, splitStatements, viewsDir, type MigrateOptions } from './migrate';
import { segmentStore } from './segments';

const settleMs = 20;
/** Each database here has one migrator at a time unless a test says otherwise: a short settle keeps taking the lease quick. */
const migrate = (url: string, database: string, migrations = loadMigrations(), views = loadViewStatements(), options: MigrateOptions = {}) =>
  migrateWith(url, database, migrations, views, { settleMs, ...options });

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

  it('give rows stored before 042_numeric_string_revenue the revenue every numeric rule reads, so a refund of "12.5" refunds 12.5', async () => {
    await withOlderDatabase('strrev', 42, async ({ database, client, read }) => {
      const row = (id: string, event: string, properties: string, revenue: number, orderId: string, given: number) =>
        `('user:u1', cityHash64('user:u1'), 'user:u1', cityHash64('user:u1'), 3, '${id}', '${event}', toDateTime('2025-03-0${id.length} 10:00:00', 'UTC'), ${revenue}, '${properties}', '${orderId}', ${given})`;
      // As the identity job wrote them before 042: visitParamExtractFloat's revenue, revenue_given for JSON numbers only.
      await client.command({
        query: `INSERT INTO person_events_stored (person_id, person_key, node, node_key, bucket, message_id, event, timestamp, revenue, properties, order_id, revenue_given) VALUES
          ${row('m1', 'Order Completed', '{"order_id":"S-1","revenue":"100"}', 100, 'S-1', 0)}, ${row('m22', 'Order Refunded', '{"order_id":"S-1","revenue":"12.5"}', 12.5, 'S-1', 0)},
          ${row('m333', 'Order Completed', '{"order_id":"P-1","revenue":"12abc"}', 12, 'P-1', 0)}, ${row('m4444', 'Order Completed', '{"order_id":"N-1","revenue":5}', 5, 'N-1', 1)}`,
      });
      await migrate(db.url, database);
      // The UPDATE runs in the background.
      await waitUntil(
        async () => (await client.query({ query: `SELECT count() AS n FROM system.mutations WHERE database = '${database}' AND is_done = 0`, format: 'JSONEachRow' })).json<{ n: string }>(),
        (rows) => Number(rows[0]?.n) === 0,
      );
      expect(await read('SELECT message_id, revenue, revenue_given FROM person_events_stored ORDER BY message_id')).toEqual([
        { message_id: 'm1', revenue: 100, revenue_given: 1 },
        { message_id: 'm22', revenue: 12.5, revenue_given: 1 },
        { message_id: 'm333', revenue: 0, revenue_given: 0 },
        { message_id: 'm4444', revenue: 5, revenue_given: 1 },
      ]);
      expect(await read('SELECT orders, gross_revenue, refunded FROM customer_value')).toEqual([{ orders: 3, gross_revenue: 105, refunded: 12.5 }]);
      // The staging table keeps person_events_stored's structure (REPLACE PARTITION needs it).
      expect(await read(`SELECT table, default_expression FROM system.columns WHERE database = '${database}' AND table IN ('person_events_stored', 'person_events_staging') AND name = 'revenue_given' ORDER BY table`)).toEqual([
        { table: 'person_events_staging', default_expression: expect.stringContaining('isFinite') },
        { table: 'person_events_stored', default_expression: expect.stringContaining('isFinite') },
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
      // The views, to look before; not the segment views, which read a column of a later migration (039). The order
      // views read the table and column of a later one (040, currency_rates and a MATERIALIZED column, which no
      // INSERT names): applied early. So is 043 (events.context_identity), which today's rows and identity job name.
      const personViews = loadMigrations(viewsDir).filter((v) => v.name !== 'segments').flatMap((v) => v.statements);
      const early = new Set(['currencies', 'context_identity']);
      await migrate(db.url, database, loadMigrations().filter((m) => m.version < 37 || early.has(m.name)), personViews);
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
        // A synthetic monitor subscribes with the shopper's e-mail (an identify without userId): its device became hers.
        event({ type: 'identify', messageId: 'bot-1', anonymousId: 'anon-monitor', traits: { email: 'ann@example.com' }, context: tag }, 3, headless),
        event({ type: 'page', messageId: 'bot-2', anonymousId: 'anon-monitor', properties: { path: '/shoes' }, context: tag }, 4, headless),
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
        { person_id: 'user:ann', identifiers: ['anon:anon-ann', 'anon:anon-monitor', email, 'user:ann'], page_views: 2, orders: 1, revenue: 40 },
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
      expect(await read('SELECT node FROM identity_run_nodes ORDER BY node')).toEqual(['anon:anon-monitor', email].map((node) => ({ node })));

      // The next identity run re-resolves what the monitor's login had merged; its identifiers are their own again.
      await runIdentityJob(client, { overlapSeconds });
      expect(await read("SELECT identifier, person_id FROM identities_current WHERE identifier NOT LIKE 'email:%' ORDER BY identifier")).toEqual([
        { identifier: 'anon:anon-ann', person_id: 'user:ann' },
        { identifier: 'anon:anon-monitor', person_id: 'anon:anon-monitor' },
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

  it('queue the persons that earlier versions merged through a shared e-mail, and the next identity run splits them (044)', async () => {
    await withOlderDatabase('user_limit', 44, async ({ database, client, read }) => {
      await migrate(db.url, database, loadMigrations().filter((m) => m.version < 44), loadViewStatements());
      const at = Date.UTC(2026, 3, 7, 10);
      const identify = (messageId: string, userId: string, minute: number) => {
        const parsed = validateEvent({ type: 'identify', messageId, userId, anonymousId: `${userId}-laptop`, traits: { email: 'office@example.com' }, timestamp: new Date(at + minute * 60_000).toISOString() });
        if (!parsed.ok) throw new Error(parsed.reason);
        return toEventRow(parsed.event, { source: 'web', receivedAt: at + minute * 60_000, sentAt: undefined, ip: '', userAgent: '' });
      };
      await loadRows(client, [identify('ann-1', 'ann', 0), identify('bob-1', 'bob', 1), identify('cy-1', 'cy', 2)]);
      const overlapSeconds = 10 * 365 * 86_400;
      await runIdentityJob(client, { overlapSeconds });
      // What versions before 044 stored: the three accounts as one person.
      const email = `email:${sha256('office@example.com')}`;
      const nodes = ['anon:ann-laptop', 'anon:bob-laptop', 'anon:cy-laptop', email, 'user:ann', 'user:bob', 'user:cy'];
      // Newer than the run's rows, older than the next run's.
      const [newest] = (await read('SELECT max(version) AS v FROM identities')) as { v: number }[];
      const version = Number(newest?.v) + 1;
      await client.insert({
        table: 'identities',
        values: nodes.map((identifier) => ({ identifier, valid_from: '1970-01-01 00:00:00', person_id: 'user:ann', mapped_at: '2026-04-07 10:05:00', version })),
        format: 'JSONEachRow',
      });
      const persons = () => read('SELECT identifier, person_id FROM identities_current ORDER BY identifier');
      expect(new Set((await persons()).map((r) => (r as { person_id: string }).person_id))).toEqual(new Set(['user:ann']));

      await migrate(db.url, database);
      expect(await read('SELECT DISTINCT node FROM identity_run_nodes ORDER BY node')).toEqual(['user:ann', 'user:bob', 'user:cy'].map((node) => ({ node })));
      await runIdentityJob(client, { overlapSeconds });
      expect(await persons()).toEqual([
        { identifier: 'anon:ann-laptop', person_id: 'user:ann' },
        { identifier: 'anon:bob-laptop', person_id: 'user:bob' },
        { identifier: 'anon:cy-laptop', person_id: 'user:cy' },
        { identifier: email, person_id: 'user:ann' },
        { identifier: 'user:ann', person_id: 'user:ann' },
        { identifier: 'user:bob', person_id: 'user:bob' },
        { identifier: 'user:cy', person_id: 'user:cy' },
      ].sort((a, b) => (a.identifier < b.identifier ? -1 : 1)));
      expect(await read('SELECT node FROM identity_run_nodes')).toEqual([]);
    });
  });

  it('split files on semicolons at line ends, ignoring comment lines', () => {
    expect(splitStatements('-- a comment; still a comment\nCREATE TABLE a (x String);\n\nSELECT \'x;y\';\n')).toEqual([
      'CREATE TABLE a (x String)',
      "SELECT 'x;y'",
    ]);
  });

  it('run a migration stopped between two of its ALTERs again whole: the column its first run added is skipped, not an error', async () => {
    const tokens = loadMigrations().find((m) => m.name === 'segment_run_tokens');
    if (!tokens) throw new Error('migration segment_run_tokens is missing');
    expect(tokens.statements.length).toBeGreaterThan(1);
    await withOlderDatabase('rerun', tokens.version, async ({ database, client, read }) => {
      // The first run stopped after its first ALTER: the column is there, the version is not recorded.
      await client.command({ query: tokens.statements[0] ?? '' });
      expect(await migrate(db.url, database, loadMigrations().filter((m) => m.version <= tokens.version), [])).toEqual([tokens.version]);
      expect(await read("SELECT table, name FROM system.columns WHERE database = currentDatabase() AND name = 'run_token' ORDER BY table")).toEqual([
        { table: 'segment_members', name: 'run_token' },
        { table: 'segment_runs', name: 'run_token' },
      ]);
    });
  });

  it('know a statement that adds one column, and only such a statement', () => {
    expect(addedColumn("ALTER TABLE segment_runs ADD COLUMN run_token String DEFAULT '' AFTER run")).toEqual({ table: 'segment_runs', column: 'run_token' });
    expect(addedColumn('alter table t\n  add column c UInt8')).toEqual({ table: 't', column: 'c' });
    expect(addedColumn('ALTER TABLE t ADD COLUMN a UInt8, ADD COLUMN b UInt8')).toBeUndefined();
    expect(addedColumn('ALTER TABLE t DROP COLUMN c')).toBeUndefined();
    expect(addedColumn('CREATE TABLE t (c UInt8) ENGINE = Memory')).toBeUndefined();
  });
});

describe('migrations on several collectors', () => {
  interface Recorded {
    who: string;
    statement: string;
    at: number;
  }

  /**
   * Wraps a migrator's client: records each statement it sends (with who sent it and when), after waiting for
   * what `pause` returns for that statement.
   */
  const recording =
    (who: string, statements: Recorded[], pause: (statement: string) => Promise<void> | undefined = () => undefined) =>
    (client: ClickHouseClient): ClickHouseClient =>
      new Proxy(client, {
        get(target, prop, receiver) {
          const value: unknown = Reflect.get(target, prop, receiver);
          if (prop !== 'command' || typeof value !== 'function') return value;
          return async (params: { query: string }): Promise<unknown> => {
            await pause(params.query);
            statements.push({ who, statement: params.query, at: Date.now() });
            return Reflect.apply(value as (...a: unknown[]) => unknown, target, [params]);
          };
        },
      });

  /** A database of its own, not created yet; dropped after `check`. */
  async function withNewDatabase(suffix: string, check: (database: string, read: (query: string) => Promise<unknown[]>) => Promise<void>): Promise<void> {
    const database = `${db.database}_${suffix}`;
    const client = createWarehouseClient(db.url);
    const read = async (query: string) =>
      (await client.query({ query: query.replaceAll('{db}', database), format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json();
    try {
      await check(database, read);
    } finally {
      await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await client.close();
    }
  }

  const leaseClaims = (read: (query: string) => Promise<unknown[]>) =>
    read("SELECT holder, argMax(expires_at, written_at) AS until FROM {db}.job_leases WHERE job = 'migrations' GROUP BY holder, claimed_at ORDER BY holder");

  it('apply each migration once when two start together on a fresh database: one applies them, the other waits for it', async () => {
    await withNewDatabase('pair', async (database, read) => {
      const statements: Recorded[] = [];
      const told: Record<'a' | 'b', string[]> = { a: [], b: [] };
      const finished = new Set<'a' | 'b'>();
      let paused = false;
      const options = (who: 'a' | 'b'): MigrateOptions => ({
        holder: `collector-${who}`,
        pollMs: 50,
        log: { info: (_fields, message) => told[who].push(message), error: (_fields, message) => told[who].push(message) },
        // The first to reach 036's bucket swaps stays there until the other has said whom it waits for (or has
        // finished, which it must not): a migration in the middle of rewriting data.
        wrapClient: recording(who, statements, (statement) => {
          if (paused || !statement.startsWith('ALTER TABLE person_days_stored REPLACE PARTITION')) return undefined;
          paused = true;
          const other = who === 'a' ? 'b' : 'a';
          return waitUntil(async () => told[other].length > 0 || finished.has(other), (done) => done).then(() => undefined);
        }),
      });
      const start = (who: 'a' | 'b') => migrate(db.url, database, loadMigrations(), loadViewStatements(), options(who)).finally(() => finished.add(who));
      const [a, b] = await Promise.all([start('a'), start('b')]);

      const all = loadMigrations().map((m) => m.version);
      expect([a, b].map((applied) => applied.length).sort((x, y) => x - y)).toEqual([0, all.length]);
      const [migrator, waiter] = a.length > 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
      expect(migrator === 'a' ? a : b).toEqual(all);
      expect(told[migrator]).toEqual([]);
      expect(told[waiter]).toEqual([expect.stringContaining(`collector-${migrator}`)]);
      // Not interleaved: every statement of the one that migrated, then the other's, which found nothing to apply.
      const order = statements.map((s) => s.who);
      expect(order).toEqual([...order.filter((w) => w === migrator), ...order.filter((w) => w === waiter)]);
      expect(statements.filter((s) => s.who === waiter).map((s) => s.statement)).toEqual([expect.stringContaining('schema_migrations'), ...loadViewStatements()]);
      expect(await read('SELECT version, count() AS n FROM {db}.schema_migrations GROUP BY version ORDER BY version')).toEqual(all.map((version) => ({ version, n: 1 })));
      // Each held the lease in turn and gave it up.
      const claims = (await leaseClaims(read)) as Array<{ holder: string; until: number }>;
      expect(new Set(claims.map((c) => c.holder))).toEqual(new Set(['collector-a', 'collector-b']));
      expect(claims.filter((c) => c.until !== 0)).toEqual([]);
    });
  });

  it('keep the lease through a migration that lasts longer than it, renewing it, while the other waits', async () => {
    await withNewDatabase('long', async (database, read) => {
      const leaseMs = 1000;
      const long = [{ version: 1, name: 'long', statements: ['SELECT 1'] }];
      const told: Record<'a' | 'b', string[]> = { a: [], b: [] };
      const errors: string[] = [];
      let paused = false;
      /** How long the newest claim of `holder` has held so far, renewals included (ms). */
      const held = async (holder: string) =>
        ((await read(`SELECT claimed_at, max(expires_at) - claimed_at AS span FROM {db}.job_leases WHERE job = 'migrations' AND holder = '${holder}' GROUP BY claimed_at ORDER BY claimed_at DESC LIMIT 1`)) as Array<{ span: number }>)[0]?.span ?? 0;
      const options = (who: 'a' | 'b'): MigrateOptions => ({
        holder: `collector-${who}`,
        leaseMs,
        pollMs: 50,
        log: { info: (_fields, message) => told[who].push(message), error: (_fields, message) => errors.push(message) },
        // The migration lasts until its lease has been renewed past three lease lengths and the other waits.
        wrapClient: recording(who, [], (statement) => {
          if (paused || statement !== 'SELECT 1') return undefined;
          paused = true;
          const other = who === 'a' ? 'b' : 'a';
          return waitUntil(async () => ({ span: await held(`collector-${who}`), waiting: told[other].length }), (now) => now.span >= 3 * leaseMs && now.waiting > 0).then(() => undefined);
        }),
      });
      const [a, b] = await Promise.all([migrate(db.url, database, long, [], options('a')), migrate(db.url, database, long, [], options('b'))]);
      expect([a, b].sort()).toEqual([[], [1]]);
      const [migrator, waiter] = a.length > 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
      // One line for the whole wait: the claim it waited for stayed the same through its renewals.
      expect(told[waiter]).toEqual([expect.stringContaining(`collector-${migrator}`)]);
      expect(errors).toEqual([]);
    });
  });

  it('wait for one that died while migrating until its lease expires, then complete its migrations', async () => {
    await withOlderDatabase('crash', 36, async ({ database, client, read }) => {
      const row = (person: string, bucket: number, id: string, day: string) =>
        `('${person}', cityHash64('${person}'), '${person}', cityHash64('${person}'), ${bucket}, '${id}', 'Product Viewed', toDateTime('2025-03-${day} 10:00:00', 'UTC'))`;
      await client.command({
        query: `INSERT INTO person_events_stored (person_id, person_key, node, node_key, bucket, message_id, event, timestamp) VALUES
          ${[row('user:u1', 3, 'm1', '01'), row('user:u1', 9, 'm2', '02'), row('event:m3', 5, 'm3', '01'), row('event:m4', 9, 'm4', '02')].join(', ')}`,
      });
      // A collector died in 036: it had created job_leases and taken the lease, filled the staging table and
      // swapped half the buckets. It never renewed nor released its lease.
      for (const statement of loadMigrations().find((m) => m.name === 'job_leases')?.statements ?? []) await client.command({ query: statement });
      const in036 = loadMigrations().find((m) => m.version === 36)?.statements ?? [];
      for (const statement of in036.slice(0, in036.findIndex((s) => s.endsWith('REPLACE PARTITION 8 FROM person_days_staging')))) await client.command({ query: statement });
      // Its claim lasts until the next collector has said it waits for it, then expires (expires_at = now, as
      // time would do).
      const claimedAt = Date.now() - 1000;
      const claim = (expiresAt: number, writtenAt: number) =>
        client.insert({ table: 'job_leases', values: [{ job: 'migrations', holder: 'crashed', claimed_at: claimedAt, expires_at: expiresAt, written_at: writtenAt }], format: 'JSONEachRow' });
      const writtenAt = Date.now();
      await claim(writtenAt + 3_600_000, writtenAt);

      const statements: Recorded[] = [];
      const told: string[] = [];
      const migrating = migrate(db.url, database, loadMigrations(), [], {
        holder: 'next',
        pollMs: 50,
        log: { info: (_fields, message) => told.push(message), error: (_fields, message) => told.push(message) },
        wrapClient: recording('next', statements),
      });
      await waitUntil(async () => told.length, (n) => n > 0);
      expect(statements).toEqual([]);
      const expiredAt = Math.max(Date.now(), writtenAt + 1);
      await claim(expiredAt, expiredAt);
      const applied = await migrating;
      const pending = loadMigrations().filter((m) => m.version >= 36).map((m) => m.version);
      expect(applied).toEqual(pending);
      expect(told).toEqual([expect.stringContaining('crashed')]);
      expect(statements[0]?.at).toBeGreaterThanOrEqual(expiredAt);
      // 036 ran again whole: the rollup counts persons only, in every bucket.
      expect(await read(`SELECT person_key = cityHash64('user:u1') AS u1, day, sum(events) AS n FROM person_days_stored GROUP BY person_key, day ORDER BY u1, day`)).toEqual([
        { u1: 1, day: '2025-03-01', n: 1 },
        { u1: 1, day: '2025-03-02', n: 1 },
      ]);
      expect(await read('SELECT count() AS n FROM person_days_staging')).toEqual([{ n: 0 }]);
      expect(await read('SELECT version, count() AS n FROM schema_migrations WHERE version >= 36 GROUP BY version ORDER BY version')).toEqual(pending.map((version) => ({ version, n: 1 })));
    });
  });

  it('wait for another collector’s identity run to end before migrating, and keep the jobs out until done', async () => {
    await withNewDatabase('jobs', async (database, read) => {
      // The database as an earlier version left it; one migration is pending.
      await migrate(db.url, database, [], []);
      const pending = [{ version: 1, name: 'rewrite', statements: ['SELECT 1'] }];
      const timeline: string[] = [];
      const told: string[] = [];
      const skipped: string[] = [];
      const jobErrors: string[] = [];
      let finished = false;
      let active = 0;
      let identityRuns = 0;
      // The other collector's identity run: its first one lasts until the migrator has said whom it waits for.
      const identity = async (): Promise<void> => {
        identityRuns += 1;
        active += 1;
        timeline.push('identity run');
        try {
          if (identityRuns === 1) await waitUntil(async () => told.length > 0 || finished, (done) => done);
        } finally {
          active -= 1;
          timeline.push('identity run ended');
        }
      };
      const jobLog: JobLogger = { error: (_object, message) => jobErrors.push(message), debug: (_object, message) => skipped.push(message) };
      const jobs = startWarehouseJobs({ url: db.url, database }, { identityIntervalSeconds: 0.05, segmentIntervalSeconds: 0, identityOverlapSeconds: 0, leaseSeconds: 3 }, jobLog, {
        holder: 'collector-jobs',
        settleMs: 100,
        runners: { identity },
      });
      try {
        await waitUntil(async () => identityRuns, (n) => n > 0);
        let activeDuringMigration = -1;
        // The migration lasts until the jobs' ticks have come and skipped meanwhile (or a run is under way).
        const wrapClient = recording('migrator', [], (statement) => {
          if (statement !== 'SELECT 1') return undefined;
          timeline.push('migration');
          const skippedBefore = skipped.length;
          return waitUntil(async () => ({ skipped: skipped.length, active }), (now) => now.skipped >= skippedBefore + 2 || now.active > 0).then((now) => {
            activeDuringMigration = now.active;
          });
        });
        const applied = await migrate(db.url, database, pending, [], {
          holder: 'collector-migrator',
          settleMs: 100,
          pollMs: 50,
          log: { info: (_fields, message) => told.push(message), error: (_fields, message) => told.push(message) },
          wrapClient,
        });
        finished = true;
        timeline.push('migrated');
        expect(applied).toEqual([1]);
        expect(activeDuringMigration).toBe(0);
        expect(told).toEqual([expect.stringMatching(/collector-jobs.*identity/)]);
        expect(timeline.slice(0, 4)).toEqual(['identity run', 'identity run ended', 'migration', 'migrated']);
        // The jobs take the identity job again once the migrations lease is released.
        await waitUntil(async () => timeline.length, (n) => n > 4);
        expect(timeline[4]).toBe('identity run');
      } finally {
        finished = true;
        await jobs.stop();
      }
      expect(jobErrors).toEqual([]);
      expect(await read("SELECT job, holder FROM {db}.job_leases WHERE job IN ('identity', 'segments') GROUP BY job, holder, claimed_at HAVING argMax(expires_at, written_at) > 0 ORDER BY job, holder")).toEqual([]);
    });
  });

  it('stop waiting, naming the holder, for a collector that never gives its job up (a version before this one), and not wait when nothing is pending', async () => {
    await withNewDatabase('old_jobs', async (database, read) => {
      await migrate(db.url, database, [], []);
      // A collector of an earlier version holds the identity job and keeps it: it renews, never gives way.
      const client = createWarehouseClient(db.url, database);
      try {
        await client.insert({
          table: 'job_leases',
          values: [{ job: 'identity', holder: 'collector-old', claimed_at: Date.now(), expires_at: Date.now() + 3_600_000, written_at: Date.now() }],
          format: 'JSONEachRow',
        });
      } finally {
        await client.close();
      }
      const statements: Recorded[] = [];
      const told: string[] = [];
      const options: MigrateOptions = {
        holder: 'collector-new',
        pollMs: 50,
        jobsWaitMs: 500,
        log: { info: (_fields, message) => told.push(message), error: (_fields, message) => told.push(message) },
        wrapClient: recording('new', statements),
      };
      // Nothing to migrate: the views alone are re-created, without waiting for the jobs.
      expect(await migrate(db.url, database, [], ['SELECT 2'], options)).toEqual([]);
      expect(told).toEqual([]);
      expect(statements.map((s) => s.statement)).toEqual([expect.stringContaining('schema_migrations'), 'SELECT 2']);

      const pending = [{ version: 1, name: 'rewrite', statements: ['SELECT 1'] }];
      await expect(migrate(db.url, database, pending, [], options)).rejects.toThrow(/collector-old.*identityIntervalSeconds/s);
      expect(told).toEqual([expect.stringMatching(/collector-old.*identity/)]);
      expect(statements.map((s) => s.statement)).not.toContain('SELECT 1');
      expect(await read('SELECT count() AS n FROM {db}.schema_migrations')).toEqual([{ n: 0 }]);
      // It gave up every lease it had taken: the next start does not wait for it.
      expect(await read("SELECT job, holder FROM {db}.job_leases GROUP BY job, holder, claimed_at HAVING argMax(expires_at, written_at) > 0 ORDER BY job")).toEqual([{ job: 'identity', holder: 'collector-old' }]);
    });
  });

  it('give the lease up when a migration fails, so that the next one does not wait for it', async () => {
    await withNewDatabase('fail', async (database, read) => {
      const broken = [{ version: 1, name: 'broken', statements: ['SELECT no_such_function()'] }];
      await expect(migrate(db.url, database, broken, [], { holder: 'broken' })).rejects.toThrow(/no_such_function/);
      expect(await leaseClaims(read)).toEqual([{ holder: 'broken', until: 0 }]);
      const told: string[] = [];
      const log = { info: (_fields: Record<string, unknown>, message: string) => told.push(message), error: (_fields: Record<string, unknown>, message: string) => told.push(message) };
      expect(await migrate(db.url, database, [], [], { holder: 'after', log })).toEqual([]);
      expect(told).toEqual([]);
      expect(await read('SELECT count() AS n FROM {db}.schema_migrations')).toEqual([{ n: 0 }]);
    });
  });
});
