// One shopper's visit, and the check that every person-level view sees that shopper and no one else: shared by
// the warehouse tests of what must never count as a person (events stripped by consent, crawlers).
import { expect } from 'vitest';
import { funnelCounts } from '../../collector/warehouse/funnels';
import { segmentStore } from '../../collector/warehouse/segments';
import { compileSegmentRule, parseSegmentRule } from '../../collector/query/segment-rules';
import type { TestDatabase } from './clickhouse';

/**
 * A visit's events from the first minute after `start` (ms), one a minute, all with `ids`: a page (/shoes), the
 * four funnel steps with order `o-<userId>` of 50, an NPS answer of 10 and the page's web vitals (7 events).
 */
export function shopperVisit(ids: { anonymousId: string; userId: string }, start: number, firstMinute = 0): Record<string, unknown>[] {
  const time = (i: number) => new Date(start + (firstMinute + i) * 60_000).toISOString();
  return [
    { type: 'page', ...ids, timestamp: time(0), context: { page: { path: '/shoes' } } },
    { type: 'track', ...ids, timestamp: time(1), event: 'Product Viewed', properties: { product_id: 'p1' } },
    { type: 'track', ...ids, timestamp: time(2), event: 'Product Added', properties: { product_id: 'p1' } },
    { type: 'track', ...ids, timestamp: time(3), event: 'Checkout Started' },
    { type: 'track', ...ids, timestamp: time(4), event: 'Order Completed', properties: { order_id: `o-${ids.userId}`, revenue: 50 } },
    { type: 'track', ...ids, timestamp: time(5), event: 'Survey Responded', properties: { survey_type: 'nps', score: 10, scale_min: 0, scale_max: 10 } },
    { type: 'track', ...ids, timestamp: time(6), event: 'Web Vitals', properties: { path: '/shoes', lcp: 1200 } },
  ];
}

export interface OneShopper {
  /** The shopper's person_id (`user:<userId>`). */
  personId: string;
  /** The shopper's events (their one session, their person_days). */
  events: number;
  /** The shopper's net revenue (the order of 50, less refunds). */
  net: number;
  /** The time segments are computed at (ms). */
  asOf: number;
}

/**
 * Asserts that the funnel (view and builder), profiles, sessions, paths, retention, person_days, orders and value,
 * and segments (built-in and rules) count `personId`'s one visit of shopperVisit and no other person.
 */
export async function expectOneShopper(db: TestDatabase, { personId, events, net, asOf }: OneShopper): Promise<void> {
  // The funnel: one person, 100% converted.
  expect(await db.rows('SELECT viewed, added_to_cart, checkout_started, ordered FROM ecommerce_funnel_daily')).toEqual([{ viewed: 1, added_to_cart: 1, checkout_started: 1, ordered: 1 }]);
  const steps = ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed'].map((event) => ({ event, where: [] }));
  expect(await funnelCounts(db.client, { steps, windowSeconds: 86_400 })).toEqual([1, 1, 1, 1]);

  // Visitors: profiles, sessions, paths, retention.
  expect(await db.rows('SELECT person_id, sessions, page_views, orders, revenue FROM profiles')).toEqual([{ person_id: personId, sessions: 1, page_views: 1, orders: 1, revenue: net }]);
  expect(await db.rows('SELECT session_id, events, landing_page, converted FROM sessions')).toEqual([{ session_id: `${personId}#1`, events, landing_page: '/shoes', converted: 1 }]);
  expect(await db.rows('SELECT path, sessions FROM paths_to_conversion')).toEqual([{ path: 'page /shoes > Product Viewed > Product Added > Checkout Started', sessions: 1 }]);
  expect(await db.rows('SELECT path, sessions FROM paths_to_dropoff')).toEqual([]);
  expect(await db.rows('SELECT sessions FROM paths_after_landing')).toEqual([{ sessions: 1 }]);
  expect(await db.rows('SELECT week_offset, active_persons, cohort_size FROM retention_weekly')).toEqual([{ week_offset: 0, active_persons: 1, cohort_size: 1 }]);
  expect(await db.rows('SELECT month_offset, active_persons, cohort_size FROM retention_monthly')).toEqual([{ month_offset: 0, active_persons: 1, cohort_size: 1 }]);
  expect(await db.rows('SELECT uniqExact(person_key) AS persons, sum(events) AS events FROM person_days')).toEqual([{ persons: 1, events }]);

  // Customers: orders, value, LTV.
  expect(await db.rows('SELECT person_id, orders, net_revenue FROM customer_value')).toEqual([{ person_id: personId, orders: 1, net_revenue: net }]);
  expect(await db.rows('SELECT customers, total_orders, net FROM value_metrics')).toEqual([{ customers: 1, total_orders: 1, net }]);
  expect(await db.rows('SELECT customers, net_revenue FROM ltv_cohort_monthly')).toEqual([{ customers: 1, net_revenue: net }]);

  // Segments, built-in and saved rules.
  const store = segmentStore(db.client);
  const members = async (id: string) => {
    const segment = store.builtins.find((s) => s.id === id);
    if (!segment) throw new Error(`no built-in segment ${id}`);
    await store.materialize(segment, asOf);
    return (await store.members(id, 100, 0)).members;
  };
  expect(await members('builtin_cart_abandoners')).toEqual([]);
  expect(await members('builtin_new_visitors')).toEqual([personId]);
  expect(await members('builtin_top_ltv_10')).toEqual([personId]);
  const rule = (raw: unknown) => db.rows<{ person_id: string }>(compileSegmentRule(parseSegmentRule(raw), asOf));
  expect(await rule({ event: 'Product Viewed' })).toEqual([{ person_id: personId }]);
  expect(await rule({ metric: 'orders', op: 'gte', value: 1 })).toEqual([{ person_id: personId }]);
  expect(await rule({ not: { event: 'Product Viewed' } })).toEqual([]);
}
