// Value views on hand-made edge cases the generator does not produce (the exact-match run is views.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceEvents, referenceLtvCohorts } from '../../test/support/analytics-reference';
import { backendRefundsDatabase } from '../../test/support/backend-refunds';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import type { Delivery } from './generator/generate';
import { deliveriesToRows, loadRows } from './generator/load';
import { compileSegmentRule, parseSegmentRule } from '../query/segment-rules';
import { runIdentityJob } from './identity/job';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('value');
}, 60_000);
afterAll(() => db.drop());

const track = (messageId: string, timestamp: string, event: string, properties: Record<string, unknown>): Delivery => ({
  raw: { type: 'track', messageId, userId: 'u1', timestamp, event, properties },
  source: 'server',
  sentAt: timestamp,
  receivedAt: Date.parse(timestamp),
});

describe('ltv_cohort_monthly', () => {
  it('puts a refund dated before the first order at a negative month offset, not at 4294967295', async () => {
    const rows = deliveriesToRows([
      track('refund-early', '2026-02-20T10:00:00.000Z', 'Order Refunded', { order_id: 'o0', revenue: 30 }),
      track('order-1', '2026-03-10T10:00:00.000Z', 'Order Completed', { order_id: 'o1', revenue: 100 }),
      track('order-2', '2026-04-05T10:00:00.000Z', 'Order Completed', { order_id: 'o2', revenue: 50 }),
    ]);
    await loadRows(db.client, rows);
    await runIdentityJob(db.client);
    const actual = await db.rows<Record<string, unknown>>('SELECT * FROM ltv_cohort_monthly ORDER BY months_since_first_order');
    expect(actual).toEqual(referenceLtvCohorts(referenceEvents(rows, () => 'user:u1')));
    expect(actual.map((r) => [r.months_since_first_order, r.net_revenue, r.cumulative_revenue])).toEqual([
      [-1, -30, -30],
      [0, 100, 70],
      [1, 50, 120],
    ]);
  });
});

describe('refunds sent by the shop\'s backend under an identity that is not the buyer\'s', () => {
  // A database of its own: value_metrics and ltv_cohort_monthly are shop-wide.
  let shop: TestDatabase;
  beforeAll(async () => {
    shop = await backendRefundsDatabase('refunds');
  }, 60_000);
  afterAll(() => shop.drop());

  it('refund the order with that order_id, the buyer\'s, at the refund\'s time, and give the sender nothing', async () => {
    expect(await shop.rows('SELECT person_id, order_id, ordered, order_revenue, refunds, refunded_amount FROM person_orders ORDER BY person_id, order_id')).toEqual([
      { person_id: 'anon:cal-phone', order_id: 'C-2', ordered: 1, order_revenue: 120, refunds: [['2026-04-11 12:00:00', 120]], refunded_amount: 120 },
      { person_id: 'anon:kiosk-1', order_id: 'D-1', ordered: 1, order_revenue: 70, refunds: [['2026-03-09 12:00:00', 10]], refunded_amount: 10 },
      // No one ordered C-404: both its refunds count in full, for the sender of the first.
      { person_id: 'anon:shop-backend', order_id: 'C-404', ordered: 0, order_revenue: 0, refunds: [['2026-03-07 12:00:00', 15], ['2026-03-08 12:00:00', 3]], refunded_amount: 18 },
      { person_id: 'user:bea', order_id: 'C-1', ordered: 1, order_revenue: 80, refunds: [['2026-03-05 12:00:00', 20]], refunded_amount: 20 },
      // Two senders' 60 each, cut to the 40 left, then the buyer's full refund finds nothing left.
      { person_id: 'user:dan', order_id: 'C-3', ordered: 1, order_revenue: 100, refunds: [['2026-03-03 12:00:00', 60], ['2026-03-04 12:00:00', 40], ['2026-03-05 12:00:00', 0]], refunded_amount: 100 },
      // Dated before the order by the backend's clock, and still its refund.
      { person_id: 'user:eve', order_id: 'E-1', ordered: 1, order_revenue: 40, refunds: [['2026-03-02 14:50:00', 5]], refunded_amount: 5 },
      { person_id: 'user:fay', order_id: 'F-1', ordered: 1, order_revenue: 40, refunds: [], refunded_amount: 0 },
      // Without an order_id a refund is its sender's; C-405's, without an amount, refunds nothing.
      { person_id: 'user:order-system', order_id: '', ordered: 0, order_revenue: 0, refunds: [['2026-03-08 12:00:00', 5]], refunded_amount: 5 },
      { person_id: 'user:order-system', order_id: 'C-405', ordered: 0, order_revenue: 0, refunds: [['2026-03-07 12:00:00', 0]], refunded_amount: 0 },
    ]);
  });

  it('count an order_id ordered under two persons once, for the earliest Order Completed\'s', async () => {
    // gus's reload of the kiosk's order is no second order: gus is no customer, and gus's refund went to the order.
    // fay's and flo's, of one millisecond, are the smaller person_key's: fay's.
    expect(await shop.rows(`SELECT person_id, orders, revenue FROM profiles WHERE person_id IN ('anon:kiosk-1', 'user:gus', 'user:fay', 'user:flo') ORDER BY person_id`)).toEqual([
      { person_id: 'anon:kiosk-1', orders: 1, revenue: 60 },
      { person_id: 'user:fay', orders: 1, revenue: 40 },
      { person_id: 'user:flo', orders: 0, revenue: 0 },
      { person_id: 'user:gus', orders: 0, revenue: 0 },
    ]);
    expect(await shop.rows(`SELECT cityHash64('user:fay') < cityHash64('user:flo') AS fay_first`)).toEqual([{ fay_first: 1 }]);
  });

  it('net the buyers\' LTV in customer_value, profiles, ltv_cohort_monthly and value_metrics', async () => {
    expect(await shop.rows('SELECT person_id, orders, gross_revenue, refunded, net_revenue FROM customer_value ORDER BY person_id')).toEqual([
      { person_id: 'anon:cal-phone', orders: 1, gross_revenue: 120, refunded: 120, net_revenue: 0 },
      { person_id: 'anon:kiosk-1', orders: 1, gross_revenue: 70, refunded: 10, net_revenue: 60 },
      { person_id: 'user:bea', orders: 1, gross_revenue: 80, refunded: 20, net_revenue: 60 },
      { person_id: 'user:dan', orders: 1, gross_revenue: 100, refunded: 100, net_revenue: 0 },
      { person_id: 'user:eve', orders: 1, gross_revenue: 40, refunded: 5, net_revenue: 35 },
      { person_id: 'user:fay', orders: 1, gross_revenue: 40, refunded: 0, net_revenue: 40 },
    ]);
    // The senders: no refund of an order they did not place.
    expect(await shop.rows(`SELECT person_id, orders, revenue FROM profiles WHERE person_id IN ('anon:shop-backend', 'user:cal', 'user:order-system') ORDER BY person_id`)).toEqual([
      { person_id: 'anon:shop-backend', orders: 0, revenue: -18 },
      { person_id: 'user:cal', orders: 0, revenue: 0 },
      { person_id: 'user:order-system', orders: 0, revenue: -5 },
    ]);
    // cal's full refund lands in April, when it happened.
    expect(await shop.rows('SELECT cohort_month, months_since_first_order, net_revenue, cumulative_revenue, customers FROM ltv_cohort_monthly ORDER BY months_since_first_order')).toEqual([
      { cohort_month: '2026-03-01', months_since_first_order: 0, net_revenue: 315, cumulative_revenue: 315, customers: 6 },
      { cohort_month: '2026-03-01', months_since_first_order: 1, net_revenue: -120, cumulative_revenue: 195, customers: 6 },
    ]);
    expect(await shop.rows('SELECT customers, total_orders, gross, refunds, net, average_order_value FROM value_metrics')).toEqual([
      { customers: 6, total_orders: 6, gross: 450, refunds: 255, net: 195, average_order_value: 75 },
    ]);
  });
});

describe('revenue sent as a string (PHP, spreadsheets, some GA4 dataLayers)', () => {
  // A database of its own; the rule of the segment sums and filters (docs/analytics.md, "Numbers sent as strings").
  let shop: TestDatabase;
  const order = (messageId: string, userId: string, day: string, event: string, properties: Record<string, unknown>): Delivery => ({
    raw: { type: 'track', messageId, userId, timestamp: `2026-03-${day}T10:00:00.000Z`, event, properties },
    source: 'server',
    sentAt: `2026-03-${day}T10:00:00.000Z`,
    receivedAt: Date.parse(`2026-03-${day}T10:00:00.000Z`),
  });
  beforeAll(async () => {
    shop = await createTestDatabase('value_strings');
    await loadRows(shop.client, deliveriesToRows([
      order('s-order', 'sam', '01', 'Order Completed', { order_id: 'S-1', revenue: '100' }),
      order('s-refund', 'sam', '02', 'Order Refunded', { order_id: 'S-1', revenue: '12.5' }),
      order('s-order-2', 'sam', '03', 'Order Completed', { order_id: 'S-2', revenue: 2 }),
      order('s-order-3', 'sam', '04', 'Order Completed', { order_id: 'S-3', revenue: 'x' }),
      order('p-order', 'pat', '01', 'Order Completed', { order_id: 'P-1', revenue: '12abc' }),
      order('p-order-2', 'pat', '02', 'Order Completed', { order_id: 'P-2', revenue: '1,000' }),
      order('p-order-3', 'pat', '03', 'Order Completed', { order_id: 'P-3', revenue: '1e3' }),
      order('p-refund', 'pat', '04', 'Order Refunded', { order_id: 'P-3', revenue: 'abc' }),
    ]));
    await runIdentityJob(shop.client);
  }, 60_000);
  afterAll(() => shop.drop());

  it('read a string holding a decimal number as that number, for orders and refunds, and other strings as no amount', async () => {
    expect(await shop.rows('SELECT order_id, order_revenue, refunded_amount FROM person_orders ORDER BY order_id')).toEqual([
      { order_id: 'P-1', order_revenue: 0, refunded_amount: 0 },
      { order_id: 'P-2', order_revenue: 0, refunded_amount: 0 },
      // A refund whose revenue is no number refunds the whole order, as one without revenue.
      { order_id: 'P-3', order_revenue: 1000, refunded_amount: 1000 },
      { order_id: 'S-1', order_revenue: 100, refunded_amount: 12.5 },
      { order_id: 'S-2', order_revenue: 2, refunded_amount: 0 },
      { order_id: 'S-3', order_revenue: 0, refunded_amount: 0 },
    ]);
    expect(await shop.rows("SELECT message_id, revenue, revenue_given FROM person_events WHERE message_id IN ('s-refund', 'p-refund', 'p-order') ORDER BY message_id")).toEqual([
      { message_id: 'p-order', revenue: 0, revenue_given: 0 },
      { message_id: 'p-refund', revenue: 0, revenue_given: 0 },
      { message_id: 's-refund', revenue: 12.5, revenue_given: 1 },
    ]);
  });

  it('give a segment sum of revenue what the value views give as gross revenue', async () => {
    expect(await shop.rows('SELECT person_id, gross_revenue FROM customer_value ORDER BY person_id')).toEqual([
      { person_id: 'user:pat', gross_revenue: 1000 },
      { person_id: 'user:sam', gross_revenue: 102 },
    ]);
    const summed = async (value: number) =>
      (await shop.rows<{ person_id: string }>(compileSegmentRule(parseSegmentRule({ event: 'Order Completed', sum: { property: 'revenue', op: 'eq', value } }), Date.UTC(2026, 3, 1)))).map((r) => r.person_id);
    expect(await summed(102)).toEqual(['user:sam']);
    expect(await summed(1000)).toEqual(['user:pat']);
  });
});
