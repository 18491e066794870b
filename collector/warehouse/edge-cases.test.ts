// Analyst views on hand-made edge cases the generated dataset does not produce (the exact-match run over
// generated data is views.test.ts). Each case uses its own userIds, so they share one database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { eventRow } from '../../test/support/events';
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
    expect(await db.rows('SELECT day, viewed, added_to_cart, checkout_started, ordered FROM ecommerce_funnel_daily')).toEqual([
      { day: '2026-03-10', viewed: 1, added_to_cart: 1, checkout_started: 1, ordered: 1 },
    ]);
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
});
