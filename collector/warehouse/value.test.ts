// Value views on hand-made edge cases the generator does not produce (the exact-match run is views.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceEvents, referenceLtvCohorts } from '../../test/support/analytics-reference';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import type { Delivery } from './generator/generate';
import { deliveriesToRows, loadRows } from './generator/load';
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
