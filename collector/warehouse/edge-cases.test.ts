// Analyst views on hand-made edge cases the generated dataset does not produce (the exact-match run over
// generated data is views.test.ts). Each case uses its own userIds, so they share one database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { eventRow } from '../../test/support/events';
import { defaultLimits } from '../config';
import { readBatch } from '../ingest/batch';
import { processBatch } from '../ingest/process';
import { compileFunnel, parseFunnelQuery } from '../query/funnel';
import { compileSegmentRule, parseSegmentRule } from '../query/segment-rules';
import { loadRows } from './generator/load';
import { runIdentityJob } from './identity/job';

const minute = 60_000;
const track = (userId: string, event: string, at: number, properties: Record<string, unknown> = {}) => eventRow({ type: 'track', userId, event, properties }, at);
let db: TestDatabase;
// The cases' events are received at their event times, months apart and not in order: look back over all of them.
const resolve = () => runIdentityJob(db.client, { overlapSeconds: 10 * 365 * 86_400 });

beforeAll(async () => {
  db = await createTestDatabase('edge');
}, 60_000);
afterAll(() => db.drop());

describe('ecommerce_funnel_daily', () => {
  it('counts a funnel that crosses UTC midnight on the day of its view, as converted', async () => {
    // Viewed 10 minutes before midnight, ordered 20 minutes after: well within the 24-hour window.
    const view = Date.UTC(2026, 2, 10, 23, 50);
    await loadRows(db.client, [
      track('night-owl', 'Product Viewed', view),
      track('night-owl', 'Product Added', view + 5 * minute),
      track('night-owl', 'Checkout Started', view + 15 * minute),
      track('night-owl', 'Order Completed', view + 20 * minute, { order_id: 'n1', revenue: 10 }),
    ]);
    await resolve();
    expect(await db.rows("SELECT day, viewed, added_to_cart, checkout_started, ordered FROM ecommerce_funnel_daily WHERE day = '2026-03-10'")).toEqual([
      { day: '2026-03-10', viewed: 1, added_to_cart: 1, checkout_started: 1, ordered: 1 },
    ]);
  });

  it('is the person’s across sources: a backend order completes a funnel viewed in the app and on the web', async () => {
    const view = Date.UTC(2026, 2, 12, 10);
    await loadRows(db.client, [
      // Browsed in the app first, then on the web, and the order came from the backend (Segment's advice).
      eventRow({ type: 'track', userId: 'cross', event: 'Product Viewed' }, view, 'app'),
      eventRow({ type: 'track', userId: 'cross', event: 'Product Viewed' }, view + 30 * minute, 'web'),
      eventRow({ type: 'track', userId: 'cross', event: 'Product Added' }, view + 35 * minute, 'web'),
      eventRow({ type: 'track', userId: 'cross', event: 'Checkout Started' }, view + 40 * minute, 'web'),
      eventRow({ type: 'track', userId: 'cross', event: 'Order Completed', properties: { order_id: 'c1', revenue: 30 } }, view + 45 * minute, 'server'),
    ]);
    await resolve();
    // One funnel, filed under the source of the day's first view.
    expect(await db.rows("SELECT day, event_source, viewed, added_to_cart, checkout_started, ordered FROM ecommerce_funnel_daily WHERE day = '2026-03-12'")).toEqual([
      { day: '2026-03-12', event_source: 'app', viewed: 1, added_to_cart: 1, checkout_started: 1, ordered: 1 },
    ]);
  });
});

describe('funnel builder', () => {
  it('with a source counts the funnels begun there, their later steps from any source', async () => {
    const at = Date.UTC(2026, 2, 14, 9);
    await loadRows(db.client, [
      eventRow({ type: 'track', userId: 'quote-web', event: 'Quote Requested' }, at, 'web'),
      eventRow({ type: 'track', userId: 'quote-web', event: 'Contract Signed' }, at + 10 * minute, 'server'),
      eventRow({ type: 'track', userId: 'quote-app', event: 'Quote Requested' }, at, 'app'),
    ]);
    await resolve();
    const funnel = (source: string) => db.rows(compileFunnel(parseFunnelQuery({ steps: [{ event: 'Quote Requested' }, { event: 'Contract Signed' }], windowSeconds: 86_400, source })));
    expect(await funnel('web')).toEqual([{ step_1: 1, step_2: 1 }]);
    expect(await funnel('app')).toEqual([{ step_1: 1, step_2: 0 }]);
    expect(await funnel('server')).toEqual([{ step_1: 0, step_2: 0 }]);
  });

  // The cases below each have a day of their own (July 2026) and ask about that day only (`from`/`to`), so they
  // share event names with each other and with the views' cases above.
  const day = (n: number) => Date.UTC(2026, 6, n, 10);
  const stepsOn = async (n: number, steps: unknown[], windowSeconds = 3600, extra: Record<string, unknown> = {}) => {
    const range = { from: new Date(day(n) - 3_600_000).toISOString(), to: new Date(day(n) + 86_400_000).toISOString() };
    const [row] = await db.rows<Record<string, number>>(compileFunnel(parseFunnelQuery({ steps, windowSeconds, ...range, ...extra })));
    return steps.map((_, i) => row?.[`step_${i + 1}`]);
  };
  const viewed = { event: 'Product Viewed' };
  const added = { event: 'Product Added' };

  it('follows the ms within one second, both ways (18.16 read a second\'s events by name: Added before Viewed)', async () => {
    await loadRows(db.client, [
      track('ms-view-add', 'Product Viewed', day(1) + 100),
      track('ms-view-add', 'Product Added', day(1) + 600),
      track('ms-add-view', 'Product Added', day(1) + 100),
      track('ms-add-view', 'Product Viewed', day(1) + 900),
    ]);
    await resolve();
    // Viewed → Added: only the person who viewed first converted; Added → Viewed: only the one who added first.
    expect(await stepsOn(1, [viewed, added])).toEqual([2, 1]);
    expect(await stepsOn(1, [added, viewed])).toEqual([2, 1]);
  });

  it('follows the position in the batch within one ms', async () => {
    const at = day(2) + 250;
    await loadRows(db.client, [
      { ...track('pos-view-add', 'Product Viewed', at), batch_position: 0 },
      { ...track('pos-view-add', 'Product Added', at), batch_position: 1 },
      { ...track('pos-add-view', 'Product Added', at), batch_position: 0 },
      { ...track('pos-add-view', 'Product Viewed', at), batch_position: 1 },
    ]);
    await resolve();
    expect(await stepsOn(2, [viewed, added])).toEqual([2, 1]);
    expect(await stepsOn(2, [added, viewed])).toEqual([2, 1]);
  });

  it('takes events of one ms and one batch position (sent in two requests) in step order', async () => {
    const at = day(8) + 250;
    await loadRows(db.client, [track('two-requests', 'Product Added', at), track('two-requests', 'Product Viewed', at)]);
    await resolve();
    expect(await stepsOn(8, [viewed, added])).toEqual([1, 1]);
    expect(await stepsOn(8, [added, viewed])).toEqual([1, 1]);
    expect(await stepsOn(8, [viewed, viewed])).toEqual([1, 0]);
  });

  it('counts one event as one step: "viewed two products" counts only persons with two views', async () => {
    await loadRows(db.client, [
      track('one-view', 'Product Viewed', day(3)),
      track('two-views', 'Product Viewed', day(3)),
      track('two-views', 'Product Viewed', day(3) + 5 * minute),
      // Two views in one ms of one batch are two events too.
      { ...track('two-views-one-ms', 'Product Viewed', day(3) + 700), batch_position: 0 },
      { ...track('two-views-one-ms', 'Product Viewed', day(3) + 700), batch_position: 1 },
    ]);
    await resolve();
    expect(await stepsOn(3, [viewed, viewed])).toEqual([3, 2]);
    expect(await stepsOn(3, [viewed, viewed, viewed])).toEqual([3, 2, 0]);
  });

  it('counts one event as one step when a later step is the same event with a filter', async () => {
    const page = (userId: string, path: string, at: number) => eventRow({ type: 'page', userId, properties: { path, url: `https://shop.test${path}` } }, at);
    await loadRows(db.client, [
      page('checkout-only', '/checkout', day(4)),
      page('home-checkout', '/', day(4)),
      page('home-checkout', '/checkout', day(4) + minute),
    ]);
    await resolve();
    expect(await stepsOn(4, [{ event: '$page' }, { event: '$page', where: [{ property: 'path', op: 'eq', value: '/checkout' }] }])).toEqual([2, 1]);
  });

  it('counts a step exactly windowSeconds after the first, in ms: 300 s is within 300 s, 300.8 s is not', async () => {
    await loadRows(db.client, [
      track('window-exact', 'Product Viewed', day(5) + 100),
      track('window-exact', 'Product Added', day(5) + 300_100),
      track('window-past', 'Product Viewed', day(5) + 100),
      track('window-past', 'Product Added', day(5) + 300_900),
    ]);
    await resolve();
    expect(await stepsOn(5, [viewed, added], 300)).toEqual([2, 1]);
    expect(await stepsOn(5, [viewed, added], 299)).toEqual([2, 0]);
    expect(await stepsOn(5, [viewed, added], 301)).toEqual([2, 2]);
  });

  it('counts the furthest any start reaches: a later view that goes on to checkout within the window', async () => {
    // The first view's chain is past its 1-hour window at checkout; the second view's (added 500 ms after it,
    // in the same second) reaches it.
    await loadRows(db.client, [
      track('restart', 'Product Viewed', day(6)),
      track('restart', 'Product Added', day(6) + 10 * minute),
      track('restart', 'Product Viewed', day(6) + 30 * minute),
      track('restart', 'Product Added', day(6) + 30 * minute + 500),
      track('restart', 'Checkout Started', day(6) + 70 * minute),
    ]);
    await resolve();
    expect(await stepsOn(6, [viewed, added, { event: 'Checkout Started' }])).toEqual([1, 1, 1]);
  });

  it('applies the source to the first step only, in event order', async () => {
    const at = day(7);
    await loadRows(db.client, [
      // Viewed on the web, added 500 ms later from the app: a web funnel that converted.
      eventRow({ type: 'track', userId: 'src-web', event: 'Product Viewed' }, at + 100, 'web'),
      eventRow({ type: 'track', userId: 'src-web', event: 'Product Added' }, at + 600, 'app'),
      // Viewed in the app, then on the web, where nothing follows.
      eventRow({ type: 'track', userId: 'src-app', event: 'Product Viewed' }, at + 100, 'app'),
      eventRow({ type: 'track', userId: 'src-app', event: 'Product Viewed' }, at + 600, 'web'),
    ]);
    await resolve();
    expect(await stepsOn(7, [viewed, added], 3600, { source: 'web' })).toEqual([2, 1]);
    // "Viewed twice", begun on the web: the web view at .600 starts one, and the app's view before it is no step 2.
    expect(await stepsOn(7, [viewed, viewed], 3600, { source: 'web' })).toEqual([2, 0]);
  });
});

describe('profiles', () => {
  it('keep the traits of the latest identify that carried any: a bare identify(userId) does not erase them', async () => {
    const at = Date.UTC(2026, 2, 1, 12);
    await loadRows(db.client, [
      eventRow({ type: 'identify', userId: 'returning', traits: { plan: 'pro', name: 'Ann' } }, at),
      // What a site calling identify(userId) on every page load sends.
      eventRow({ type: 'identify', userId: 'returning' }, at + 86_400_000),
    ]);
    await resolve();
    expect(await db.rows(`SELECT latest_traits FROM profiles WHERE person_id = 'user:returning'`)).toEqual([{ latest_traits: '{"plan":"pro","name":"Ann"}' }]);
  });

  it('take the latest traits (also in segment trait rules), consent and campaign within one second by their milliseconds', async () => {
    const at = Date.UTC(2026, 2, 2, 12);
    const consent = (analytics: boolean) => ({ consent: { categoryPreferences: { analytics, marketing: analytics } } });
    const campaign = (source: string) => ({ campaign: { source, medium: 'cpc', name: source } });
    await loadRows(db.client, [
      eventRow({ type: 'identify', userId: 'same-second', traits: { plan: 'free' }, context: { ...consent(false), ...campaign('first') } }, at + 100),
      eventRow({ type: 'identify', userId: 'same-second', traits: { plan: 'pro' }, context: { ...consent(true), ...campaign('second') } }, at + 900),
    ]);
    await resolve();
    expect(await db.rows(`SELECT latest_traits, consent_state, first_touch_source, last_touch_source FROM profiles WHERE person_id = 'user:same-second'`)).toEqual([
      {
        latest_traits: '{"plan":"pro"}',
        consent_state: '{"categoryPreferences":{"analytics":true,"marketing":true}}',
        first_touch_source: 'first',
        last_touch_source: 'second',
      },
    ]);
    const members = async (value: string) =>
      (await db.rows<{ person_id: string }>(compileSegmentRule(parseSegmentRule({ trait: 'plan', op: 'eq', value }), at + 1000))).map((r) => r.person_id);
    expect(await members('pro')).toContain('user:same-second');
    expect(await members('free')).not.toContain('user:same-second');
  });
});

describe('identity', () => {
  it('names the person after the userId when the backend aliases an anonymous id to it', async () => {
    const at = Date.UTC(2026, 2, 3, 12);
    const anonymousId = '3f2a9c1e-0000-4000-8000-000000000001'; // a UUID sorts before most userIds
    await loadRows(db.client, [
      eventRow({ type: 'page', anonymousId, properties: { path: '/pricing' } }, at),
      // A server-side library's alias: previousId is the visitor's anonymous id, and no anonymousId is sent.
      eventRow({ type: 'alias', userId: 'zoe-server', previousId: anonymousId }, at + minute, 'server'),
      eventRow({ type: 'track', userId: 'zoe-server', event: 'Signed Up' }, at + 2 * minute, 'server'),
    ]);
    await resolve();
    expect(await db.rows(`SELECT DISTINCT person_id FROM person_events WHERE anonymous_id = '${anonymousId}' OR user_id = 'zoe-server'`)).toEqual([{ person_id: 'user:zoe-server' }]);
  });
});

describe('orders and refunds', () => {
  const day = 86_400_000;
  const metricMembers = async (rule: unknown, asOf: number) =>
    (await db.rows<{ person_id: string }>(compileSegmentRule(parseSegmentRule(rule), asOf))).map((r) => r.person_id).filter((p) => p.startsWith('user:o-')).sort();

  it('count an order_id once: the earliest Order Completed gives its revenue and time, and its person owns it', async () => {
    const t = Date.UTC(2025, 0, 10, 12);
    await loadRows(db.client, [
      // The site's own call, then the GA4 bridge a minute later with another messageId (and a rounded revenue).
      track('o-twice', 'Order Completed', t, { order_id: 'A-1', revenue: 50 }),
      track('o-twice', 'Order Completed', t + minute, { order_id: 'A-1', revenue: 55 }),
      // A reloaded thank-you page a day after the order: the order stays at its first time.
      track('o-twice', 'Order Completed', t + 40 * day, { order_id: 'A-2', revenue: 30 }),
      track('o-twice', 'Order Completed', t + 41 * day, { order_id: 'A-2', revenue: 30 }),
      // Without an order_id each event is an order, as before.
      track('o-twice', 'Order Completed', t + 2 * day, { revenue: 10 }),
      track('o-twice', 'Order Completed', t + 3 * day, { revenue: 10 }),
      // Another person's Order Completed with the same order_id, later (a shared device, never merged): the same
      // order, o-twice's, whose Order Completed came first (value.test.ts has refunds of such orders).
      track('o-other', 'Order Completed', t + 2 * minute, { order_id: 'A-1', revenue: 50 }),
    ]);
    await resolve();
    expect(await db.rows(`SELECT orders, revenue, last_order_at FROM profiles WHERE person_id = 'user:o-twice'`)).toEqual([
      { orders: 4, revenue: 100, last_order_at: '2025-02-19 12:00:00' },
    ]);
    expect(await db.rows(`SELECT person_id, orders, gross_revenue, net_revenue, first_order_at, last_order_at FROM customer_value WHERE person_id IN ('user:o-twice', 'user:o-other') ORDER BY person_id`)).toEqual([
      { person_id: 'user:o-twice', orders: 4, gross_revenue: 100, net_revenue: 100, first_order_at: '2025-01-10 12:00:00', last_order_at: '2025-02-19 12:00:00' },
    ]);
    expect(await db.rows(`SELECT months_since_first_order, net_revenue, customers FROM ltv_cohort_monthly WHERE cohort_month = '2025-01-01'`)).toEqual([
      { months_since_first_order: 0, net_revenue: 70, customers: 1 },
      { months_since_first_order: 1, net_revenue: 30, customers: 1 },
    ]);
    const asOf = t + 60 * day;
    expect(await metricMembers({ metric: 'orders', op: 'eq', value: 4 }, asOf)).toEqual(['user:o-twice']);
    expect(await metricMembers({ metric: 'ltv', op: 'eq', value: 100 }, asOf)).toEqual(['user:o-twice']);
    expect(await metricMembers({ metric: 'days_since_last_order', op: 'eq', value: 20 }, asOf)).toEqual(['user:o-twice']);
  });

  it('refund the whole order when a refund has no amount, and never more than the order in total', async () => {
    const t = Date.UTC(2025, 5, 10, 12);
    await loadRows(db.client, [
      track('o-refunds', 'Order Completed', t, { order_id: 'R-1', revenue: 80 }),
      track('o-refunds', 'Order Completed', t + minute, { order_id: 'R-1', revenue: 80 }),
      // A full refund (the Segment spec; what the GA4 bridge sends for one): the order's 80, once.
      track('o-refunds', 'Order Refunded', t + 30 * day, { order_id: 'R-1' }),
      track('o-refunds', 'Order Completed', t, { order_id: 'R-2', revenue: 60 }),
      // 40, then 40 more asked for where only 20 is left.
      track('o-refunds', 'Order Refunded', t + 1 * day, { order_id: 'R-2', revenue: 40 }),
      track('o-refunds', 'Order Refunded', t + 2 * day, { order_id: 'R-2', revenue: 40 }),
      // Amount-less, of an order this person does not have: nothing to refund.
      track('o-refunds', 'Order Refunded', t + 2 * day, { order_id: 'R-unknown' }),
      track('o-refunds', 'Order Completed', t, { order_id: 'R-3', revenue: 25 }),
    ]);
    await resolve();
    expect(await db.rows(`SELECT orders, gross_revenue, refunded, net_revenue FROM customer_value WHERE person_id = 'user:o-refunds'`)).toEqual([
      { orders: 3, gross_revenue: 165, refunded: 140, net_revenue: 25 },
    ]);
    expect(await db.rows(`SELECT orders, revenue FROM profiles WHERE person_id = 'user:o-refunds'`)).toEqual([{ orders: 3, revenue: 25 }]);
    // The full refund lands in July, when it happened.
    expect(await db.rows(`SELECT months_since_first_order, net_revenue, cumulative_revenue FROM ltv_cohort_monthly WHERE cohort_month = '2025-06-01'`)).toEqual([
      { months_since_first_order: 0, net_revenue: 105, cumulative_revenue: 105 },
      { months_since_first_order: 1, net_revenue: -80, cumulative_revenue: 25 },
    ]);
    expect(await metricMembers({ metric: 'ltv', op: 'eq', value: 25 }, t + 60 * day)).toEqual(['user:o-refunds']);
  });

  it('take an order twice sent in one second from its earliest event by milliseconds, not by message_id', async () => {
    const t = Date.UTC(2025, 6, 10, 12);
    const order = (messageId: string, at: number, revenue: number) =>
      eventRow({ type: 'track', userId: 'o-same-second', messageId, event: 'Order Completed', properties: { order_id: 'S-1', revenue } }, at);
    // The site's own call first; the GA4 bridge's copy (rounded) 800 ms later, with a message_id that sorts first.
    await loadRows(db.client, [order('zz-site', t + 100, 49.99), order('aa-bridge', t + 900, 50)]);
    await resolve();
    expect(await db.rows(`SELECT order_id, order_revenue FROM person_orders WHERE person_id = 'user:o-same-second'`)).toEqual([{ order_id: 'S-1', order_revenue: 49.99 }]);
  });

  it('count a numeric order_id as its decimal text: 1234 and "1234" are one order, and its refunds match it', async () => {
    const t = Date.UTC(2025, 7, 10, 12);
    await loadRows(db.client, [
      // A server-side library sends the number; the site's own call sends the string a minute later.
      track('o-numeric', 'Order Completed', t, { order_id: 1234, revenue: 40 }),
      track('o-numeric', 'Order Completed', t + minute, { order_id: '1234', revenue: 40 }),
      // A full refund, by number: it refunds that order.
      track('o-numeric', 'Order Refunded', t + 5 * day, { order_id: 1234 }),
      // A number that is not an integer is its text as well.
      track('o-numeric', 'Order Completed', t + 2 * day, { order_id: 12.5, revenue: 10 }),
      track('o-numeric', 'Order Refunded', t + 3 * day, { order_id: '12.5', revenue: 4 }),
    ]);
    await resolve();
    expect(await db.rows(`SELECT order_id, ordered, order_revenue, refunded_amount FROM person_orders WHERE person_id = 'user:o-numeric' ORDER BY order_id`)).toEqual([
      { order_id: '12.5', ordered: 1, order_revenue: 10, refunded_amount: 4 },
      { order_id: '1234', ordered: 1, order_revenue: 40, refunded_amount: 40 },
    ]);
    expect(await db.rows(`SELECT orders, gross_revenue, refunded, net_revenue FROM customer_value WHERE person_id = 'user:o-numeric'`)).toEqual([
      { orders: 2, gross_revenue: 50, refunded: 44, net_revenue: 6 },
    ]);
  });

  it('give one average_order_value in profiles and customer_value: gross revenue per order, refunds left out', async () => {
    const t = Date.UTC(2025, 8, 10, 12);
    await loadRows(db.client, [
      track('o-aov', 'Order Completed', t, { order_id: 'V-1', revenue: 100 }),
      track('o-aov', 'Order Completed', t + day, { order_id: 'V-2', revenue: 50 }),
      track('o-aov', 'Order Refunded', t + 2 * day, { order_id: 'V-2' }),
    ]);
    await resolve();
    // 150 ordered over 2 orders; the refund lowers revenue (net 100), not the order value.
    expect(await db.rows(`SELECT orders, revenue, average_order_value FROM profiles WHERE person_id = 'user:o-aov'`)).toEqual([
      { orders: 2, revenue: 100, average_order_value: 75 },
    ]);
    expect(await db.rows(`SELECT orders, net_revenue, average_order_value FROM customer_value WHERE person_id = 'user:o-aov'`)).toEqual([
      { orders: 2, net_revenue: 100, average_order_value: 75 },
    ]);
  });

  it('count product categories from products[] only: a top-level category of an order is not a product\'s', async () => {
    const t = Date.UTC(2025, 9, 10, 12);
    await loadRows(db.client, [
      // What the GA4 bridge sent for an order that named its item list: the list's name as a top-level category.
      track('o-categories', 'Order Completed', t, { order_id: 'C-1', revenue: 90, category: 'Summer sale', products: [{ product_id: 'p1', category: 'sneakers' }, { product_id: 'p2', category: 'sneakers' }] }),
      track('o-categories', 'Order Completed', t + day, { order_id: 'C-2', revenue: 70, products: [{ product_id: 'p3', category: 'sneakers' }, { product_id: 'p4', category: 'care' }] }),
      // A category before products in the JSON, and a product without one.
      track('o-categories', 'Order Completed', t + 2 * day, { category: 'care', order_id: 'C-3', revenue: 30, products: [{ product_id: 'p5', category: 'sneakers' }, { product_id: 'p6' }] }),
    ]);
    await resolve();
    expect(await db.rows(`SELECT order_id, multi_category FROM person_orders WHERE person_id = 'user:o-categories' ORDER BY order_id`)).toEqual([
      { order_id: 'C-1', multi_category: 0 },
      { order_id: 'C-2', multi_category: 1 },
      { order_id: 'C-3', multi_category: 0 },
    ]);
    expect(await db.rows(`SELECT orders, multi_category_orders FROM customer_value WHERE person_id = 'user:o-categories'`)).toEqual([{ orders: 3, multi_category_orders: 1 }]);
  });
});

describe('web_vitals', () => {
  it('files a page load\'s vitals under the path it was loaded on, not the SPA route shown at hide', async () => {
    const at = Date.UTC(2026, 3, 2, 9);
    const vitals = (userId: string, properties: Record<string, unknown>) =>
      eventRow({ type: 'track', userId, event: 'Web Vitals', properties, context: { page: { path: '/spa/checkout', url: 'https://shop.test/spa/checkout' } } }, at);
    await loadRows(db.client, [
      vitals('spa-visitor', { lcp: 1800, lcp_rating: 'good', path: '/spa/landing' }),
      // Sent before the plugin added `path`: its page_path is all there is.
      vitals('older-sdk', { lcp: 2600, lcp_rating: 'needs-improvement' }),
    ]);
    await resolve();
    expect(await db.rows("SELECT path, lcp_samples, lcp_p75 FROM web_vitals WHERE path LIKE '/spa/%' ORDER BY path")).toEqual([
      { path: '/spa/checkout', lcp_samples: 1, lcp_p75: 2600 },
      { path: '/spa/landing', lcp_samples: 1, lcp_p75: 1800 },
    ]);
  });

  it('counts a metric only where its value is a number by the one rule (JsonNumberSql): "2000" is 2000, "1500abc" and true none', async () => {
    const at = Date.UTC(2026, 3, 3, 9);
    const vitals = (userId: string, properties: Record<string, unknown>) => eventRow({ type: 'track', userId, event: 'Web Vitals', properties: { path: '/vitals-numbers', ...properties } }, at);
    await loadRows(db.client, [
      vitals('vitals-a', { lcp: 3000, cls: 0.05 }),
      vitals('vitals-b', { lcp: '2000', inp: 'fast' }),
      vitals('vitals-c', { lcp: '1500abc', inp: 120 }),
      vitals('vitals-d', { lcp: true, cls: '1,000' }),
    ]);
    await resolve();
    // Were 4 LCP samples ("1500abc" read as 1500, true as 0), 2 INP ("fast" as 0) and 2 CLS ("1,000" as 1).
    expect(await db.rows("SELECT lcp_samples, lcp_p75, inp_samples, inp_p75, cls_samples, cls_p75 FROM web_vitals WHERE path = '/vitals-numbers'")).toEqual([
      { lcp_samples: 2, lcp_p75: 3000, inp_samples: 1, inp_p75: 120, cls_samples: 1, cls_p75: 0.05 },
    ]);
  });
});

describe('survey_responses', () => {
  it('reads score, scale_min and scale_max by the one rule (JsonNumberSql), and an answer without a numeric score is none', async () => {
    const at = Date.UTC(2025, 10, 4, 12);
    const answer = (userId: string, properties: Record<string, unknown>, n: number) => track(userId, 'Survey Responded', at + n * minute, properties);
    await loadRows(db.client, [
      answer('cx-numbers', { survey_type: 'nps', score: '9', scale_min: 0, scale_max: 10 }, 0),
      answer('cx-numbers', { survey_type: 'nps', score: '4abc', scale_min: 0, scale_max: 10 }, 1),
      answer('cx-numbers', { survey_type: 'nps', score: true, scale_min: 0, scale_max: 10 }, 2),
      answer('cx-numbers', { survey_type: 'nps', scale_min: 0, scale_max: 10 }, 3),
      answer('cx-numbers', { survey_type: 'csat', score: 4, scale_min: '1', scale_max: '5' }, 4),
      answer('cx-numbers', { survey_type: 'csat', score: 5, scale_min: '1', scale_max: '5abc' }, 5),
      answer('cx-numbers', { survey_type: 'ces', score: '3', scale_min: 1, scale_max: 7 }, 6),
      answer('cx-numbers', { survey_type: 'ces', score: '1,000', scale_min: 1, scale_max: 7 }, 7),
    ]);
    await resolve();
    // "4abc", true, a missing score and "1,000" were answers scored 4, 0, 0 and 1: three NPS detractors and a CES of 1.
    // A scale "5abc" has no number, so that CSAT answer has no scale_max and is not satisfied.
    expect(await db.rows("SELECT survey_type, score, scale_min, scale_max, nps_points, satisfied FROM survey_responses WHERE person_id = 'user:cx-numbers' ORDER BY responded_at")).toEqual([
      { survey_type: 'nps', score: 9, scale_min: 0, scale_max: 10, nps_points: 100, satisfied: 0 },
      { survey_type: 'csat', score: 4, scale_min: 1, scale_max: 5, nps_points: 0, satisfied: 1 },
      { survey_type: 'csat', score: 5, scale_min: 1, scale_max: 0, nps_points: 0, satisfied: 0 },
      { survey_type: 'ces', score: 3, scale_min: 1, scale_max: 7, nps_points: 0, satisfied: 0 },
    ]);
    expect(await db.rows("SELECT nps_responses, nps, csat_responses, csat, ces_responses, ces FROM cx_monthly WHERE month = '2025-11-01'")).toEqual([
      { nps_responses: 1, nps: 100, csat_responses: 2, csat: 50, ces_responses: 1, ces: 3 },
    ]);
  });
});

describe('the order of a person\'s events within one second', () => {
  const at = Date.UTC(2026, 4, 12, 8, 30, 15);
  const page = (userId: string, path: string, ms: number, messageId: string) =>
    eventRow({ type: 'page', userId, messageId, context: { page: { path, url: `https://shop.test${path}` } } }, at + ms);
  const pathsOf = (userId: string) => db.rows(`SELECT steps FROM session_paths WHERE person_id = 'user:${userId}'`);
  const sessionOf = (userId: string) => db.rows(`SELECT landing_page, exit_page, events FROM sessions WHERE person_id = 'user:${userId}'`);

  it('follows the milliseconds: a page load\'s page and track, then an SPA redirect, all in one second', async () => {
    // messageIds (random UUIDs in real life) sort against the event order here.
    await loadRows(db.client, [
      page('one-second', '/', 120, 'order-c'),
      eventRow({ type: 'track', userId: 'one-second', messageId: 'order-b', event: 'Product Viewed', properties: { sku: 's1' } }, at + 125),
      page('one-second', '/home', 610, 'order-a'),
    ]);
    await resolve();
    expect(await pathsOf('one-second')).toEqual([{ steps: ['page /', 'Product Viewed', 'page /home'] }]);
    expect(await sessionOf('one-second')).toEqual([{ landing_page: '/', exit_page: '/home', events: 3 }]);
  });

  it('follows the client\'s batch order within one millisecond (Segment libraries send a batch in call order)', async () => {
    // One request, as the collector takes it: three events stamped in the same millisecond.
    const stamp = new Date(at + 500).toISOString();
    const read = readBatch({
      sentAt: stamp,
      batch: [
        { type: 'page', userId: 'one-ms', messageId: 'same-ms-c', timestamp: stamp, context: { page: { path: '/' } } },
        { type: 'track', userId: 'one-ms', messageId: 'same-ms-b', timestamp: stamp, event: 'Product Viewed' },
        { type: 'page', userId: 'one-ms', messageId: 'same-ms-a', timestamp: stamp, context: { page: { path: '/home' } } },
      ],
    });
    if (!read.ok) throw new Error(read.message);
    const request = { source: 'web', consentPolicy: 'strip' as const, receivedAt: at + 500, ip: '', keepFullIp: false, userAgent: '' };
    const { rows } = processBatch(read.batch, request, defaultLimits);
    expect(rows.map((r) => [r.timestamp_ms, r.batch_position])).toEqual([[at + 500, 0], [at + 500, 1], [at + 500, 2]]);
    await loadRows(db.client, rows);
    await resolve();
    expect(await pathsOf('one-ms')).toEqual([{ steps: ['page /', 'Product Viewed', 'page /home'] }]);
    expect(await sessionOf('one-ms')).toEqual([{ landing_page: '/', exit_page: '/home', events: 3 }]);
  });

  it('counts a funnel step in the same second as the step before it, after it when its ms are later', async () => {
    // A quick add from the product page: viewed, then added 300 ms later; and the reverse, an add that came
    // first. (The next day: the cases above have views of their own.)
    const nextDay = at + 86_400_000;
    await loadRows(db.client, [
      track('quick-add', 'Product Viewed', nextDay + 100),
      track('quick-add', 'Product Added', nextDay + 400),
      track('add-first', 'Product Added', nextDay + 100),
      track('add-first', 'Product Viewed', nextDay + 400),
    ]);
    await resolve();
    expect(await db.rows(`SELECT viewed, added_to_cart FROM ecommerce_funnel_daily WHERE day = '2026-05-13'`)).toEqual([{ viewed: 2, added_to_cart: 1 }]);
  });
});
