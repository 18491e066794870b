// Crawlers in the warehouse, against real ClickHouse: a page-rendering crawler fires the tag like a shopper, and the
// collector flags it (is_bot). Its events stay in `events`/`events_dedup`; the identity job leaves them out of
// person_events and its identifiers out of the identity graph, so no person-level view, funnel, segment, order or
// identity counts it. A shopper and a crawler do the same visit; a synthetic monitor (headless Chrome) logs in
// with the shopper's e-mail, which would merge its device and account into the shopper.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { defaultLimits } from '../config';
import { readBatch } from '../ingest/batch';
import { processBatch } from '../ingest/process';
import { compileSegmentRule, parseSegmentRule } from '../query/segment-rules';
import { funnelCounts } from './funnels';
import { loadRows } from './generator/load';
import { sha256 } from './identity/identifiers';
import { runIdentityJob } from './identity/job';
import { segmentStore } from './segments';

const minute = 60_000;
const at = Date.UTC(2026, 3, 7, 10);
const asOf = at + 2 * 86_400_000;
const chrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
/** Googlebot's page renderer: it runs the page's scripts, so the tag sends events. */
const googlebot = 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/124.0.6367.118 Safari/537.36';
const headless = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36';
const tagflow = { name: 'tagflow', version: '1.0.0' };
let db: TestDatabase;

const collect = (body: unknown, userAgent: string, receivedAt: number) => {
  const read = readBatch(body);
  if (!read.ok) throw new Error(read.message);
  return processBatch(read.batch, { source: 'web', consentPolicy: 'strip', receivedAt, ip: '', keepFullIp: false, userAgent }, defaultLimits).rows;
};

/** One visit from the tag (library tagflow, the browser's user agent): log in, a page, the funnel, a survey answer, web vitals. */
function visit(name: string, email: string, userAgent: string) {
  const time = (i: number) => new Date(at + i * minute).toISOString();
  const ids = { anonymousId: `anon-${name}`, userId: name };
  return collect(
    {
      sentAt: time(7),
      context: { library: tagflow, userAgent },
      batch: [
        { type: 'identify', ...ids, timestamp: time(0), traits: { email } },
        { type: 'page', ...ids, timestamp: time(1), context: { page: { path: '/shoes' } } },
        { type: 'track', ...ids, timestamp: time(2), event: 'Product Viewed', properties: { product_id: 'p1' } },
        { type: 'track', ...ids, timestamp: time(3), event: 'Product Added', properties: { product_id: 'p1' } },
        { type: 'track', ...ids, timestamp: time(4), event: 'Checkout Started' },
        { type: 'track', ...ids, timestamp: time(5), event: 'Order Completed', properties: { order_id: `o-${name}`, revenue: 50 } },
        { type: 'track', ...ids, timestamp: time(6), event: 'Survey Responded', properties: { survey_type: 'nps', score: 10, scale_min: 0, scale_max: 10 } },
        { type: 'track', ...ids, timestamp: time(7), event: 'Web Vitals', properties: { path: '/shoes', lcp: 1200 } },
      ],
    },
    userAgent,
    at + 7 * minute,
  );
}

/** The monitor's login on its own device, with the shopper's e-mail. */
const monitorLogin = () =>
  collect(
    { context: { library: tagflow, userAgent: headless }, batch: [{ type: 'identify', anonymousId: 'anon-checker', userId: 'checker', timestamp: new Date(at).toISOString(), traits: { email: 'ann@example.com' } }] },
    headless,
    at,
  );

/** The shop's backend refunds part of the order with a plain HTTP call: no library named, Node's fetch user agent. */
const refund = () =>
  collect(
    { batch: [{ type: 'track', userId: 'ann', timestamp: new Date(at + 8 * minute).toISOString(), event: 'Order Refunded', properties: { order_id: 'o-ann', revenue: 10 } }] },
    'node',
    at + 8 * minute,
  );

beforeAll(async () => {
  db = await createTestDatabase('bots');
  await loadRows(db.client, [...visit('ann', 'ann@example.com', chrome), ...visit('crawler', 'crawler@example.com', googlebot), ...monitorLogin(), ...refund()]);
  await runIdentityJob(db.client, { overlapSeconds: 10 * 365 * 86_400 });
}, 60_000);
afterAll(() => db.drop());

describe('a crawler that renders pages and fires the tag', () => {
  it('is in events_dedup, flagged, and in no row of person_events', async () => {
    expect(await db.rows('SELECT user_id, is_bot, count() AS n FROM events_dedup GROUP BY user_id, is_bot ORDER BY user_id')).toEqual([
      { user_id: 'ann', is_bot: 0, n: 9 },
      { user_id: 'checker', is_bot: 1, n: 1 },
      { user_id: 'crawler', is_bot: 1, n: 8 },
    ]);
    expect(await db.rows('SELECT person_id, count() AS n FROM person_events GROUP BY person_id')).toEqual([{ person_id: 'user:ann', n: 9 }]);
    // Its survey answer and web vitals are no visitor's experience either.
    expect(await db.rows('SELECT nps_responses, nps FROM cx_monthly')).toEqual([{ nps_responses: 1, nps: 100 }]);
    expect(await db.rows('SELECT path, lcp_samples FROM web_vitals')).toEqual([{ path: '/shoes', lcp_samples: 1 }]);
  });

  it('joins no one in the identity graph, though it logged in with the shopper’s e-mail', async () => {
    expect(await db.rows("SELECT identifier, person_id FROM identities_current WHERE identifier NOT LIKE 'email:%' ORDER BY identifier")).toEqual([
      { identifier: 'anon:anon-ann', person_id: 'user:ann' },
      { identifier: 'user:ann', person_id: 'user:ann' },
    ]);
    expect(await db.rows("SELECT count() AS n FROM identity_edges WHERE node NOT IN ('anon:anon-ann', 'user:ann') AND node NOT LIKE 'email:%'")).toEqual([{ n: 0 }]);
    expect(await db.rows('SELECT person_id, identifiers FROM profiles')).toEqual([
      { person_id: 'user:ann', identifiers: ['anon:anon-ann', `email:${sha256('ann@example.com')}`, 'user:ann'] },
    ]);
  });

  it('is no funnel: ecommerce_funnel_daily and the funnel builder count the shopper, 100% converted', async () => {
    expect(await db.rows('SELECT day, viewed, added_to_cart, checkout_started, ordered FROM ecommerce_funnel_daily')).toEqual([
      { day: '2026-04-07', viewed: 1, added_to_cart: 1, checkout_started: 1, ordered: 1 },
    ]);
    const steps = ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed'].map((event) => ({ event, where: [] }));
    expect(await funnelCounts(db.client, { steps, windowSeconds: 86_400 })).toEqual([1, 1, 1, 1]);
  });

  it('is no visitor: profiles, sessions, paths and retention have the shopper only', async () => {
    expect(await db.rows('SELECT person_id, sessions, page_views, orders, revenue FROM profiles')).toEqual([
      { person_id: 'user:ann', sessions: 1, page_views: 1, orders: 1, revenue: 40 },
    ]);
    expect(await db.rows('SELECT session_id, events, landing_page, converted FROM sessions')).toEqual([
      { session_id: 'user:ann#1', events: 9, landing_page: '/shoes', converted: 1 },
    ]);
    expect(await db.rows('SELECT path, sessions FROM paths_to_conversion')).toEqual([
      { path: 'page /shoes > Product Viewed > Product Added > Checkout Started', sessions: 1 },
    ]);
    expect(await db.rows('SELECT sessions FROM paths_after_landing')).toEqual([{ sessions: 1 }]);
    expect(await db.rows('SELECT week_offset, active_persons, cohort_size FROM retention_weekly')).toEqual([{ week_offset: 0, active_persons: 1, cohort_size: 1 }]);
    expect(await db.rows('SELECT month_offset, active_persons, cohort_size FROM retention_monthly')).toEqual([{ month_offset: 0, active_persons: 1, cohort_size: 1 }]);
    expect(await db.rows('SELECT uniqExact(person_key) AS persons, sum(events) AS events FROM person_days')).toEqual([{ persons: 1, events: 9 }]);
  });

  it('is no customer: orders, value and LTV count the shopper’s order, refunded by the backend', async () => {
    expect(await db.rows('SELECT person_id, order_id, order_revenue, refunded_amount FROM person_orders')).toEqual([
      { person_id: 'user:ann', order_id: 'o-ann', order_revenue: 50, refunded_amount: 10 },
    ]);
    expect(await db.rows('SELECT person_id, orders, net_revenue FROM customer_value')).toEqual([{ person_id: 'user:ann', orders: 1, net_revenue: 40 }]);
    expect(await db.rows('SELECT customers, total_orders, net FROM value_metrics')).toEqual([{ customers: 1, total_orders: 1, net: 40 }]);
    expect(await db.rows('SELECT cohort_month, customers, net_revenue FROM ltv_cohort_monthly')).toEqual([{ cohort_month: '2026-04-01', customers: 1, net_revenue: 40 }]);
  });

  it('is in no segment, built-in or saved', async () => {
    const store = segmentStore(db.client);
    const members = async (id: string) => {
      const segment = store.builtins.find((s) => s.id === id);
      if (!segment) throw new Error(id);
      await store.materialize(segment, asOf);
      return (await store.members(id, 100, 0)).members;
    };
    expect(await members('builtin_new_visitors')).toEqual(['user:ann']);
    expect(await members('builtin_top_ltv_10')).toEqual(['user:ann']);
    const rule = (raw: unknown) => db.rows<{ person_id: string }>(compileSegmentRule(parseSegmentRule(raw), asOf));
    expect(await rule({ event: 'Product Viewed' })).toEqual([{ person_id: 'user:ann' }]);
    expect(await rule({ metric: 'orders', op: 'gte', value: 1 })).toEqual([{ person_id: 'user:ann' }]);
    expect(await rule({ not: { event: 'Product Viewed' } })).toEqual([]);
  });
});
