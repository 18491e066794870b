// Crawlers in the warehouse, against real ClickHouse: a page-rendering crawler fires the tag like a shopper, and the
// collector flags it (is_bot). Its events stay in `events`/`events_dedup`; the identity job leaves them out of
// person_events and its identifiers out of the identity graph, so no person-level view, funnel, segment, order or
// identity counts it. A shopper and a crawler do the same visit; a synthetic monitor (headless Chrome) logs in
// with the shopper's e-mail, which would merge its device and account into the shopper.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { expectOneShopper, shopperVisit } from '../../test/support/one-shopper';
import { defaultLimits } from '../config';
import { readBatch } from '../ingest/batch';
import { processBatch } from '../ingest/process';
import { loadRows } from './generator/load';
import { sha256 } from './identity/identifiers';
import { runIdentityJob } from './identity/job';

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

/** One visit from the tag (library tagflow, the browser's user agent): log in, then shopperVisit. */
function visit(name: string, email: string, userAgent: string) {
  const ids = { anonymousId: `anon-${name}`, userId: name };
  const batch = [{ type: 'identify', ...ids, timestamp: new Date(at).toISOString(), traits: { email } }, ...shopperVisit(ids, at, 1)];
  return collect({ sentAt: new Date(at + 7 * minute).toISOString(), context: { library: tagflow, userAgent }, batch }, userAgent, at + 7 * minute);
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

  it('is no visitor, funnel, customer or segment member: every person-level view counts the shopper only', async () => {
    await expectOneShopper(db, { personId: 'user:ann', events: 9, net: 40, asOf });
    // The backend's refund (a plain HTTP call, no crawler) counts against the shopper's order.
    expect(await db.rows('SELECT person_id, order_id, order_revenue, refunded_amount FROM person_orders')).toEqual([
      { person_id: 'user:ann', order_id: 'o-ann', order_revenue: 50, refunded_amount: 10 },
    ]);
  });
});
