// Revenue in one reporting currency (migrations/040_currencies.sql, views/012_currency_rates.sql,
// views/015_orders.sql, views/016_unconverted_orders.sql): orders in several currencies converted with the
// operator's rates, in person_orders and every view and segment metric that reads it.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, privateSettleMs, type TestDatabase } from '../../test/support/clickhouse';
import { builtinSegments } from '../query/builtin-segments';
import { compileSegmentRule, parseSegmentRule, type SegmentRule } from '../query/segment-rules';
import { createWarehouseClient } from './client';
import { currencyRateStore } from './currency-rates';
import type { Delivery } from './generator/generate';
import { deliveriesToRows, loadRows } from './generator/load';
import { runIdentityJob } from './identity/job';
import { loadMigrations, migrate } from './migrate';

const track = (messageId: string, userId: string, timestamp: string, event: string, properties: Record<string, unknown>): Delivery => ({
  raw: { type: 'track', messageId, userId, timestamp, event, properties },
  source: 'server',
  sentAt: timestamp,
  receivedAt: Date.parse(timestamp),
});
const order = (id: string, user: string, day: string, revenue: number, currency?: string) =>
  track(`oc-${id}`, user, `${day}T12:00:00.000Z`, 'Order Completed', { order_id: id, revenue, ...(currency === undefined ? {} : { currency }) });

/**
 * A shop selling in USD (the reporting currency), EUR and GBP, with rates (all exact in binary, so sums are exact):
 * EUR 1.25 on 11-02 and 1.5 on 11-04 (none on 11-03), GBP 2 on 11-03; none for JPY or CHF.
 */
const shopEvents = (): Delivery[] => [
  // ann: EUR at its day's rate, USD as is; her refund of A-1 on 11-05 is in EUR at A-1's rate (1.25), not 11-05's.
  order('A-1', 'ann', '2026-11-02', 100, 'EUR'),
  order('A-2', 'ann', '2026-11-03', 50, 'USD'),
  track('rf-A-1', 'ann', '2026-11-05T09:00:00.000Z', 'Order Refunded', { order_id: 'A-1', revenue: 20, currency: 'EUR' }),
  // bob: 11-03 has no EUR rate (11-02's applies); 11-10 is after every rate (11-04's applies).
  order('B-1', 'bob', '2026-11-03', 100, 'EUR'),
  order('B-2', 'bob', '2026-11-10', 10, 'EUR'),
  // cat: before every EUR rate (the earliest applies); no currency (as is); a lower-case code.
  order('C-1', 'cat', '2026-10-15', 200, 'EUR'),
  order('C-2', 'cat', '2026-11-03', 30),
  order('C-3', 'cat', '2026-11-03', 40, 'gbp'),
  // dan: JPY has no rate; the reporting currency in lower case.
  order('D-1', 'dan', '2026-11-02', 1000, 'JPY'),
  order('D-2', 'dan', '2026-11-03', 5, 'usd'),
  // eve: a refund of an order no Order Completed has, in a currency without rates.
  track('rf-E-404', 'eve', '2026-11-04T09:00:00.000Z', 'Order Refunded', { order_id: 'E-404', revenue: 15, currency: 'CHF' }),
];

const shopRates = {
  reportingCurrency: 'USD',
  rates: [
    { currency: 'EUR', day: '2026-11-02', rate: 1.25 },
    { currency: 'EUR', day: '2026-11-04', rate: 1.5 },
    { currency: 'GBP', day: '2026-11-03', rate: 2 },
  ],
};

async function shopDatabase(prefix: string): Promise<TestDatabase> {
  const db = await createTestDatabase(prefix);
  await loadRows(db.client, deliveriesToRows(shopEvents()));
  await runIdentityJob(db.client);
  return db;
}

const asOf = Date.UTC(2026, 10, 20);
const members = async (db: TestDatabase, rule: SegmentRule) => (await db.rows<{ person_id: string }>(compileSegmentRule(rule, asOf))).map((r) => r.person_id).sort();
const topLtv = () => {
  const segment = builtinSegments().find((s) => s.id === 'builtin_top_ltv_10');
  if (!segment) throw new Error('no builtin_top_ltv_10');
  return segment.rule;
};
const orderColumns = 'person_id, order_id, ordered, currency, original_revenue, rate, order_revenue, original_refunded, refunded_amount, refunds';

describe('revenue converted into the reporting currency', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await shopDatabase('currency');
    // The first load of EUR 11-02 is a mistake, corrected by loading the day again.
    const store = currencyRateStore(db.client);
    expect(await store.load({ reportingCurrency: 'USD', rates: [{ currency: 'EUR', day: '2026-11-02', rate: 9 }] })).toMatchObject({ ok: true, loaded: 1 });
    expect(await store.load(shopRates)).toEqual({ ok: true, reportingCurrency: 'USD', loaded: 3 });
  }, 60_000);
  afterAll(() => db.drop());

  it('converts each order at its day\'s rate, else the latest earlier day\'s, else the earliest; refunds at their order\'s', async () => {
    expect(await db.rows(`SELECT ${orderColumns} FROM person_orders ORDER BY order_id`)).toEqual([
      { person_id: 'user:ann', order_id: 'A-1', ordered: 1, currency: 'EUR', original_revenue: 100, rate: 1.25, order_revenue: 125, original_refunded: 20, refunded_amount: 25, refunds: [['2026-11-05 09:00:00', 25]] },
      { person_id: 'user:ann', order_id: 'A-2', ordered: 1, currency: 'USD', original_revenue: 50, rate: 1, order_revenue: 50, original_refunded: 0, refunded_amount: 0, refunds: [] },
      { person_id: 'user:bob', order_id: 'B-1', ordered: 1, currency: 'EUR', original_revenue: 100, rate: 1.25, order_revenue: 125, original_refunded: 0, refunded_amount: 0, refunds: [] },
      { person_id: 'user:bob', order_id: 'B-2', ordered: 1, currency: 'EUR', original_revenue: 10, rate: 1.5, order_revenue: 15, original_refunded: 0, refunded_amount: 0, refunds: [] },
      { person_id: 'user:cat', order_id: 'C-1', ordered: 1, currency: 'EUR', original_revenue: 200, rate: 1.25, order_revenue: 250, original_refunded: 0, refunded_amount: 0, refunds: [] },
      { person_id: 'user:cat', order_id: 'C-2', ordered: 1, currency: '', original_revenue: 30, rate: 1, order_revenue: 30, original_refunded: 0, refunded_amount: 0, refunds: [] },
      { person_id: 'user:cat', order_id: 'C-3', ordered: 1, currency: 'GBP', original_revenue: 40, rate: 2, order_revenue: 80, original_refunded: 0, refunded_amount: 0, refunds: [] },
      // No JPY rate: still an order, adding nothing to revenue (listed in unconverted_orders).
      { person_id: 'user:dan', order_id: 'D-1', ordered: 1, currency: 'JPY', original_revenue: 1000, rate: 0, order_revenue: 0, original_refunded: 0, refunded_amount: 0, refunds: [] },
      { person_id: 'user:dan', order_id: 'D-2', ordered: 1, currency: 'USD', original_revenue: 5, rate: 1, order_revenue: 5, original_refunded: 0, refunded_amount: 0, refunds: [] },
      { person_id: 'user:eve', order_id: 'E-404', ordered: 0, currency: 'CHF', original_revenue: 0, rate: 0, order_revenue: 0, original_refunded: 15, refunded_amount: 0, refunds: [['2026-11-04 09:00:00', 0]] },
    ]);
  });

  it('gives converted LTV and net revenue per person in customer_value, profiles and person_order_totals', async () => {
    expect(await db.rows('SELECT person_id, orders, gross_revenue, refunded, net_revenue, average_order_value FROM customer_value ORDER BY person_id')).toEqual([
      { person_id: 'user:ann', orders: 2, gross_revenue: 175, refunded: 25, net_revenue: 150, average_order_value: 87.5 },
      { person_id: 'user:bob', orders: 2, gross_revenue: 140, refunded: 0, net_revenue: 140, average_order_value: 70 },
      { person_id: 'user:cat', orders: 3, gross_revenue: 360, refunded: 0, net_revenue: 360, average_order_value: 120 },
      { person_id: 'user:dan', orders: 2, gross_revenue: 5, refunded: 0, net_revenue: 5, average_order_value: 2.5 },
    ]);
    expect(await db.rows('SELECT person_id, orders, revenue FROM profiles ORDER BY person_id')).toEqual([
      { person_id: 'user:ann', orders: 2, revenue: 150 },
      { person_id: 'user:bob', orders: 2, revenue: 140 },
      { person_id: 'user:cat', orders: 3, revenue: 360 },
      { person_id: 'user:dan', orders: 2, revenue: 5 },
      { person_id: 'user:eve', orders: 0, revenue: 0 },
    ]);
    expect(await db.rows(`SELECT net_revenue FROM person_order_totals WHERE person_id = 'user:eve'`)).toEqual([{ net_revenue: 0 }]);
  });

  it('sums converted amounts in value_metrics and ltv_cohort_monthly', async () => {
    expect(await db.rows('SELECT customers, total_orders, gross, refunds, net FROM value_metrics')).toEqual([{ customers: 4, total_orders: 9, gross: 680, refunds: 25, net: 655 }]);
    expect(await db.rows('SELECT cohort_month, months_since_first_order, net_revenue, cumulative_revenue, customers FROM ltv_cohort_monthly ORDER BY cohort_month, months_since_first_order')).toEqual([
      { cohort_month: '2026-10-01', months_since_first_order: 0, net_revenue: 250, cumulative_revenue: 250, customers: 1 },
      { cohort_month: '2026-10-01', months_since_first_order: 1, net_revenue: 110, cumulative_revenue: 360, customers: 1 },
      { cohort_month: '2026-11-01', months_since_first_order: 0, net_revenue: 295, cumulative_revenue: 295, customers: 3 },
    ]);
  });

  it('lists the currencies without rates in unconverted_orders, with their amounts as sent', async () => {
    expect(await db.rows('SELECT * FROM unconverted_orders')).toEqual([
      { currency: 'CHF', orders: 0, refund_groups: 1, revenue: 0, refunded: 15, first_day: '2026-11-04', last_day: '2026-11-04' },
      { currency: 'JPY', orders: 1, refund_groups: 0, revenue: 1000, refunded: 0, first_day: '2026-11-02', last_day: '2026-11-02' },
    ]);
  });

  it('evaluates segment rules on converted values: ltv, and the top-LTV built-in', async () => {
    // At face value: ann 130, bob 110, cat 270, dan 1005.
    expect(await members(db, parseSegmentRule({ metric: 'ltv', op: 'gte', value: 200 }))).toEqual(['user:cat']);
    expect(await members(db, parseSegmentRule({ metric: 'ltv', op: 'gt', value: 120 }))).toEqual(['user:ann', 'user:bob', 'user:cat']);
    expect(await members(db, topLtv())).toEqual(['user:cat']);
  });

  it('lists the rates in effect, the day loaded last replacing the first load', async () => {
    expect(await currencyRateStore(db.client).list()).toEqual({ reportingCurrency: 'USD', rates: shopRates.rates });
  });
});

describe('without any rate loaded', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await shopDatabase('currency_none');
  }, 60_000);
  afterAll(() => db.drop());

  it('takes every order as it is, whatever its currency (the figures before conversion existed)', async () => {
    const orders = await db.rows<{ order_id: string; rate: number; order_revenue: number; original_revenue: number; refunded_amount: number; original_refunded: number }>(
      'SELECT order_id, rate, order_revenue, original_revenue, refunded_amount, original_refunded FROM person_orders ORDER BY order_id',
    );
    expect(orders.map((o) => [o.order_id, o.rate, o.order_revenue, o.refunded_amount])).toEqual([
      ['A-1', 1, 100, 20],
      ['A-2', 1, 50, 0],
      ['B-1', 1, 100, 0],
      ['B-2', 1, 10, 0],
      ['C-1', 1, 200, 0],
      ['C-2', 1, 30, 0],
      ['C-3', 1, 40, 0],
      ['D-1', 1, 1000, 0],
      ['D-2', 1, 5, 0],
      ['E-404', 1, 0, 15],
    ]);
    for (const o of orders) expect([o.original_revenue, o.original_refunded]).toEqual([o.order_revenue, o.refunded_amount]);
    expect(await db.rows('SELECT customers, total_orders, gross, refunds, net FROM value_metrics')).toEqual([{ customers: 4, total_orders: 9, gross: 1535, refunds: 20, net: 1515 }]);
    expect(await db.rows('SELECT * FROM unconverted_orders')).toEqual([]);
    expect(await members(db, topLtv())).toEqual(['user:dan']);
    expect(await currencyRateStore(db.client).list()).toEqual({ reportingCurrency: null, rates: [] });
  });
});

describe('rates loaded with a plain INSERT', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await shopDatabase('currency_insert');
  }, 60_000);
  afterAll(() => db.drop());

  const eurRevenue = async () => db.rows(`SELECT order_id, rate, order_revenue FROM person_orders WHERE order_id IN ('A-1', 'A-2') ORDER BY order_id`);

  it('reads codes in any case, ignores rates that are not positive, and never mixes two reporting currencies', async () => {
    await db.client.command({
      query: "INSERT INTO currency_rates (currency, day, rate, reporting_currency, version) VALUES ('eur', '2026-11-01', 1.25, 'usd', 1), ('EUR', '2026-11-02', 0, 'USD', 1)",
    });
    // 11-02's rate of 0 is as if not loaded: 11-01's applies.
    expect(await eurRevenue()).toEqual([
      { order_id: 'A-1', rate: 1.25, order_revenue: 125 },
      { order_id: 'A-2', rate: 1, order_revenue: 50 },
    ]);
    // A newer load in EUR: the USD rates no longer apply (they would give USD amounts), so USD has no rate yet
    // and EUR is taken as it is.
    await db.client.command({ query: "INSERT INTO currency_rates (currency, day, rate, reporting_currency, version) VALUES ('GBP', '2026-11-01', 1.5, 'EUR', 2)" });
    expect(await eurRevenue()).toEqual([
      { order_id: 'A-1', rate: 1, order_revenue: 100 },
      { order_id: 'A-2', rate: 0, order_revenue: 0 },
    ]);
    expect(await db.rows(`SELECT currency, orders FROM unconverted_orders WHERE currency = 'USD'`)).toEqual([{ currency: 'USD', orders: 2 }]);
  });
});

describe('the currency of orders stored before migration 040, and of orders read through a stale identifier', () => {
  const eurRates = { reportingCurrency: 'USD', rates: [{ currency: 'EUR', day: '2026-11-02', rate: 1.25 }] };

  it('is read from their properties (the column is computed when read), in person_events_staging\'s structure too', async () => {
    const url = inject('clickhouseUrl');
    const database = `tf_currency_old_${Date.now().toString(36)}`;
    await migrate(url, database, loadMigrations().filter((m) => m.version < 40), [], { settleMs: privateSettleMs });
    const client = createWarehouseClient(url, database);
    try {
      await client.command({
        query: `INSERT INTO person_events_stored (person_id, person_key, node, node_key, bucket, message_id, event, timestamp, revenue, properties, order_id)
                VALUES ('user:old', cityHash64('user:old'), 'user:old', cityHash64('user:old'), 3, 'm1', 'Order Completed',
                        toDateTime('2026-11-02 10:00:00', 'UTC'), 100, '{"order_id":"O-1","revenue":100,"currency":"eur"}', 'O-1')`,
      });
      await migrate(url, database, loadMigrations(), undefined, { settleMs: privateSettleMs });
      expect(await currencyRateStore(client).load(eurRates)).toMatchObject({ ok: true });
      const rows = await (await client.query({ query: 'SELECT order_id, currency, rate, order_revenue FROM person_orders', format: 'JSONEachRow' })).json();
      expect(rows).toEqual([{ order_id: 'O-1', currency: 'EUR', rate: 1.25, order_revenue: 125 }]);
      const columns = await (
        await client.query({
          query: `SELECT table, default_kind FROM system.columns WHERE database = '${database}' AND name = 'currency' AND table IN ('person_events_stored', 'person_events_staging') ORDER BY table`,
          format: 'JSONEachRow',
        })
      ).json();
      expect(columns).toEqual([
        { table: 'person_events_staging', default_kind: 'MATERIALIZED' },
        { table: 'person_events_stored', default_kind: 'MATERIALIZED' },
      ]);
    } finally {
      await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await client.close();
    }
  }, 60_000);

  it('converts an order whose identifier is stale (person_events_restated), attributed to its new person', async () => {
    const db = await createTestDatabase('currency_stale');
    try {
      const anonymous = (messageId: string, timestamp: string, raw: Record<string, unknown>): Delivery => ({
        raw: { messageId, anonymousId: 'dev-z', timestamp, ...raw },
        source: 'web',
        sentAt: timestamp,
        receivedAt: Date.parse(timestamp),
      });
      await loadRows(db.client, deliveriesToRows([anonymous('z-1', '2026-11-02T10:00:00.000Z', { type: 'track', event: 'Order Completed', properties: { order_id: 'Z-1', revenue: 100, currency: 'EUR' } })]));
      const noSquash = { overlapSeconds: 10 * 365 * 86_400, squashAfterNodes: 1e9 };
      await runIdentityJob(db.client, noSquash);
      await loadRows(db.client, deliveriesToRows([anonymous('z-2', '2026-11-03T10:00:00.000Z', { type: 'identify', userId: 'zoe' })]));
      await runIdentityJob(db.client, noSquash);
      expect(await db.rows('SELECT node FROM stale_nodes')).toEqual([{ node: 'anon:dev-z' }]);
      expect(await currencyRateStore(db.client).load(eurRates)).toMatchObject({ ok: true });
      expect(await db.rows('SELECT person_id, order_id, currency, rate, order_revenue FROM person_orders')).toEqual([
        { person_id: 'user:zoe', order_id: 'Z-1', currency: 'EUR', rate: 1.25, order_revenue: 125 },
      ]);
    } finally {
      await db.drop();
    }
  }, 60_000);
});
