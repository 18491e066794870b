// Events the consent policy `strip` stored without ids, against real ClickHouse: in person_events each is a person
// of its own (event:<messageId>). Event counts keep them; the person-level views, the funnel builder and segments
// (built-ins included) leave them out. Two shoppers do the same visit and order; one of them denies analytics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { defaultLimits } from '../config';
import { readBatch } from '../ingest/batch';
import { processBatch } from '../ingest/process';
import { compileSegmentRule, parseSegmentRule } from '../query/segment-rules';
import { funnelCounts } from './funnels';
import { loadRows } from './generator/load';
import { runIdentityJob } from './identity/job';
import { segmentStore } from './segments';

const minute = 60_000;
const at = Date.UTC(2026, 3, 7, 10);
const asOf = at + 2 * 86_400_000;
let db: TestDatabase;

/** One visit, as the collector takes it: a page, the four funnel steps, a survey answer and the page's web vitals. */
function visit(userId: string, deniesAnalytics: boolean) {
  const time = (i: number) => new Date(at + i * minute).toISOString();
  const ids = { anonymousId: `anon-${userId}`, userId };
  const read = readBatch({
    sentAt: time(6),
    ...(deniesAnalytics ? { context: { consent: { categoryPreferences: { analytics: false } } } } : {}),
    batch: [
      { type: 'page', ...ids, timestamp: time(0), context: { page: { path: '/shoes' } } },
      { type: 'track', ...ids, timestamp: time(1), event: 'Product Viewed', properties: { product_id: 'p1' } },
      { type: 'track', ...ids, timestamp: time(2), event: 'Product Added', properties: { product_id: 'p1' } },
      { type: 'track', ...ids, timestamp: time(3), event: 'Checkout Started' },
      { type: 'track', ...ids, timestamp: time(4), event: 'Order Completed', properties: { order_id: `o-${userId}`, revenue: 50 } },
      { type: 'track', ...ids, timestamp: time(5), event: 'Survey Responded', properties: { survey_type: 'nps', score: 10, scale_min: 0, scale_max: 10 } },
      { type: 'track', ...ids, timestamp: time(6), event: 'Web Vitals', properties: { path: '/shoes', lcp: 1200 } },
    ],
  });
  if (!read.ok) throw new Error(read.message);
  const processed = processBatch(read.batch, { source: 'web', consentPolicy: 'strip', receivedAt: at + 6 * minute, ip: '', keepFullIp: false, userAgent: '' }, defaultLimits);
  expect(processed.stripped).toBe(deniesAnalytics ? 7 : 0);
  return processed.rows;
}

beforeAll(async () => {
  db = await createTestDatabase('stripped');
  await loadRows(db.client, [...visit('yes', false), ...visit('no', true)]);
  await runIdentityJob(db.client, { overlapSeconds: 10 * 365 * 86_400 });
}, 60_000);
afterAll(() => db.drop());

describe('events stored without ids (consent policy strip)', () => {
  it('are one-event persons in person_events, and still count in event totals', async () => {
    const persons = await db.rows<{ person_id: string }>('SELECT person_id FROM person_events');
    expect(persons.length).toBe(14);
    expect(persons.filter((p) => p.person_id === 'user:yes').length).toBe(7);
    expect(new Set(persons.filter((p) => p.person_id.startsWith('event:')).map((p) => p.person_id)).size).toBe(7);
    expect(await db.rows('SELECT nps_responses, nps FROM cx_monthly')).toEqual([{ nps_responses: 2, nps: 100 }]);
    expect(await db.rows('SELECT path, lcp_samples FROM web_vitals')).toEqual([{ path: '/shoes', lcp_samples: 2 }]);
    expect(await db.rows('SELECT count() AS n FROM survey_responses')).toEqual([{ n: 2 }]);
  });

  it('are no funnel: ecommerce_funnel_daily and the funnel builder count the consenting shopper, 100% converted', async () => {
    expect(await db.rows('SELECT day, viewed, added_to_cart, checkout_started, ordered FROM ecommerce_funnel_daily')).toEqual([
      { day: '2026-04-07', viewed: 1, added_to_cart: 1, checkout_started: 1, ordered: 1 },
    ]);
    const steps = ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed'].map((event) => ({ event, where: [] }));
    expect(await funnelCounts(db.client, { steps, windowSeconds: 86_400 })).toEqual([1, 1, 1, 1]);
  });

  it('are no visitor: profiles, sessions, paths and retention have the consenting shopper only', async () => {
    expect(await db.rows('SELECT person_id, sessions, page_views, orders, revenue FROM profiles')).toEqual([
      { person_id: 'user:yes', sessions: 1, page_views: 1, orders: 1, revenue: 50 },
    ]);
    expect(await db.rows('SELECT session_id, events, landing_page, converted FROM sessions')).toEqual([
      { session_id: 'user:yes#1', events: 7, landing_page: '/shoes', converted: 1 },
    ]);
    expect(await db.rows('SELECT path, sessions FROM paths_to_conversion')).toEqual([
      { path: 'page /shoes > Product Viewed > Product Added > Checkout Started', sessions: 1 },
    ]);
    expect(await db.rows('SELECT path, sessions FROM paths_to_dropoff')).toEqual([]);
    expect(await db.rows('SELECT sessions FROM paths_after_landing')).toEqual([{ sessions: 1 }]);
    expect(await db.rows('SELECT week_offset, active_persons, cohort_size FROM retention_weekly')).toEqual([{ week_offset: 0, active_persons: 1, cohort_size: 1 }]);
    expect(await db.rows('SELECT month_offset, active_persons, cohort_size FROM retention_monthly')).toEqual([{ month_offset: 0, active_persons: 1, cohort_size: 1 }]);
    expect(await db.rows('SELECT uniqExact(person_key) AS persons, sum(events) AS events FROM person_days')).toEqual([{ persons: 1, events: 7 }]);
  });

  it('are no customer: orders, value and segment metrics count the consenting shopper’s order only', async () => {
    expect(await db.rows('SELECT person_id, order_id, order_revenue FROM person_orders')).toEqual([{ person_id: 'user:yes', order_id: 'o-yes', order_revenue: 50 }]);
    expect(await db.rows('SELECT person_id, orders, net_revenue FROM customer_value')).toEqual([{ person_id: 'user:yes', orders: 1, net_revenue: 50 }]);
    expect(await db.rows('SELECT customers, total_orders, net FROM value_metrics')).toEqual([{ customers: 1, total_orders: 1, net: 50 }]);
    expect(await db.rows('SELECT cohort_month, customers, net_revenue FROM ltv_cohort_monthly')).toEqual([{ cohort_month: '2026-04-01', customers: 1, net_revenue: 50 }]);
  });

  it('are in no segment, built-in or saved', async () => {
    const store = segmentStore(db.client);
    const members = async (id: string) => {
      const segment = store.builtins.find((s) => s.id === id);
      if (!segment) throw new Error(id);
      await store.materialize(segment, asOf);
      return (await store.members(id, 100, 0)).members;
    };
    // The stripped add has no order of its own person after it, and each stripped event is first seen 2 days ago.
    expect(await members('builtin_cart_abandoners')).toEqual([]);
    expect(await members('builtin_new_visitors')).toEqual(['user:yes']);
    expect(await members('builtin_top_ltv_10')).toEqual(['user:yes']);
    const rule = (raw: unknown) => db.rows<{ person_id: string }>(compileSegmentRule(parseSegmentRule(raw), asOf));
    expect(await rule({ event: 'Product Viewed' })).toEqual([{ person_id: 'user:yes' }]);
    expect(await rule({ not: { event: 'Product Viewed' } })).toEqual([]);
  });
});
