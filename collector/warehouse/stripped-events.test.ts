// Events the consent policy `strip` stored without ids, against real ClickHouse: in person_events each is a person
// of its own (event:<messageId>). Event counts keep them; the person-level views, the funnel builder and segments
// (built-ins included) leave them out. Two shoppers do the same visit and order; one of them denies analytics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { expectOneShopper, shopperVisit } from '../../test/support/one-shopper';
import { defaultLimits } from '../config';
import { readBatch } from '../ingest/batch';
import { processBatch } from '../ingest/process';
import { loadRows } from './generator/load';
import { runIdentityJob } from './identity/job';

const minute = 60_000;
const at = Date.UTC(2026, 3, 7, 10);
const asOf = at + 2 * 86_400_000;
let db: TestDatabase;

/** One visit (shopperVisit), as the collector takes it. */
function visit(userId: string, deniesAnalytics: boolean) {
  const read = readBatch({
    sentAt: new Date(at + 6 * minute).toISOString(),
    ...(deniesAnalytics ? { context: { consent: { categoryPreferences: { analytics: false } } } } : {}),
    batch: shopperVisit({ anonymousId: `anon-${userId}`, userId }, at),
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

  it('are no visitor, funnel, customer or segment member: every person-level view counts the consenting shopper only', async () => {
    await expectOneShopper(db, { personId: 'user:yes', events: 7, net: 50, asOf });
    expect(await db.rows('SELECT person_id, order_id, order_revenue FROM person_orders')).toEqual([{ person_id: 'user:yes', order_id: 'o-yes', order_revenue: 50 }]);
  });
});
