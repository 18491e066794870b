// A graph component of many persons (rule 1: a QA or point-of-sale e-mail typed into many accounts keeps them
// apart, yet joins them in one component): a run that touches it re-resolves all of it, but writes identities (and
// stale marks) only for the identifiers whose periods changed, so one account's login does not rewrite thousands
// of rows. What it writes is still what a from-scratch resolution of the same events gives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/clickhouse';
import { eventRow } from '../../../test/support/events';
import { attribution, currentIdentities, fromScratch } from '../../../test/support/identity-state';
import type { EventRow } from '../../ingest/normalize';
import { loadRows } from '../generator/load';
import { sha256 } from './identifiers';
import { runIdentityJob } from './job';

const T = Date.UTC(2026, 6, 1, 12);
const minute = 60_000;
// Events are received at their event times, in the past: every run looks back over all of them.
const options = { overlapSeconds: 10 * 365 * 86_400, squashAfterNodes: 1e9 };
const accounts = 50;
const qa = `email:${sha256('qa@example.com')}`;
const pad = (i: number) => String(i).padStart(2, '0');

/** Each account: a landing page of its own device, an identify with the shared QA address, an order. */
const accountRows: EventRow[] = Array.from({ length: accounts }, (_, i) => {
  const [user, device, at] = [`u-${pad(i)}`, `dev-${pad(i)}`, T + i * minute];
  return [
    eventRow({ type: 'page', name: 'Home', messageId: `${user}-page`, anonymousId: device }, at),
    eventRow({ type: 'identify', messageId: `${user}-identify`, userId: user, anonymousId: device, traits: { email: 'qa@example.com' } }, at + 10_000),
    eventRow({ type: 'track', event: 'Order Completed', messageId: `${user}-order`, userId: user, anonymousId: device, properties: { order_id: `o-${pad(i)}`, revenue: 10 } }, at + 20_000),
  ];
}).flat();
// One account logs in on a new device, with the QA address again.
const tabletRows = [
  eventRow({ type: 'page', name: 'Home', messageId: 'u-17-tablet-page', anonymousId: 'dev-17-tablet' }, T + 120 * minute),
  eventRow({ type: 'identify', messageId: 'u-17-tablet-identify', userId: 'u-17', anonymousId: 'dev-17-tablet', traits: { email: 'qa@example.com' } }, T + 121 * minute),
];
// The same account logs in again where it did before: a new message, the same persons.
const againRows = [
  eventRow({ type: 'identify', messageId: 'u-17-identify-again', userId: 'u-17', anonymousId: 'dev-17', traits: { email: 'qa@example.com' } }, T + 150 * minute),
];
// An explicit merge of two accounts of the component: u-04's identifiers and events move to u-03.
const aliasRows = [eventRow({ type: 'alias', messageId: 'u-03-alias', userId: 'u-03', previousId: 'u-04', anonymousId: 'dev-03' }, T + 180 * minute)];

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('big_components');
  await loadRows(db.client, accountRows);
  await runIdentityJob(db.client, options);
}, 60_000);
afterAll(() => db.drop());


/** Runs the job after loading `rows`; returns its result and the identities rows it wrote (versions above the previous newest). */
async function runWith(rows: EventRow[]) {
  const [before] = await db.rows<{ newest: number }>('SELECT max(version) AS newest FROM identities');
  await loadRows(db.client, rows);
  const result = await runIdentityJob(db.client, options);
  const written = await db.rows<{ identifier: string; person_id: string }>(
    `SELECT identifier, person_id FROM identities WHERE version > ${Number(before?.newest)} ORDER BY identifier, valid_from`,
  );
  return { result, written };
}

describe('a component of many accounts sharing one e-mail', () => {
  it('is all written by the first run', async () => {
    const [row] = await db.rows<{ n: number }>(`SELECT uniqExact(identifier) AS n FROM identities_current`);
    // Every account and device, and the address (with u-00, the first to give it).
    expect(Number(row?.n)).toBe(2 * accounts + 1);
    expect(await db.rows(`SELECT person_id FROM identities_current WHERE identifier = '${qa}'`)).toEqual([{ person_id: 'user:u-00' }]);
  });

  it("writes only the new device's identity when one account logs in again, with the persons of a from-scratch resolution", async () => {
    const { result, written } = await runWith(tabletRows);
    expect(written).toEqual([{ identifier: 'anon:dev-17-tablet', person_id: 'user:u-17' }]);
    expect(result).toMatchObject({ events: 1, identifiers: 1, staleIdentifiers: 0 });
    const truth = await fromScratch(options, [...accountRows, ...tabletRows]);
    expect(await currentIdentities(db)).toEqual(truth.identities);
    expect(await attribution(db)).toEqual(truth.attribution);
  }, 60_000);

  it('writes nothing when a run re-resolves the component and nothing in it changed', async () => {
    const { result, written } = await runWith(againRows);
    expect(result).toMatchObject({ events: 1, identifiers: 0, staleIdentifiers: 0 });
    expect(written).toEqual([]);
  });

  it('writes every identifier an alias moves, and their events follow, before and after the squash', async () => {
    const { result, written } = await runWith(aliasRows);
    expect(written).toEqual([
      { identifier: 'anon:dev-04', person_id: 'user:u-03' },
      { identifier: 'user:u-04', person_id: 'user:u-03' },
    ]);
    // Both had stored events (the landing page; the identify and the order).
    expect(result).toMatchObject({ events: 1, identifiers: 2, staleIdentifiers: 2 });
    const moved = "SELECT message_id, person_id FROM person_events WHERE message_id LIKE 'u-04-%' ORDER BY message_id";
    const expected = ['u-04-identify', 'u-04-order', 'u-04-page'].map((message_id) => ({ message_id, person_id: 'user:u-03' }));
    expect(await db.rows(moved)).toEqual(expected);
    const profile = () => db.rows("SELECT person_id, identifiers, orders, revenue FROM profiles WHERE person_id IN ('user:u-03', 'user:u-04') ORDER BY person_id");
    const merged = [{ person_id: 'user:u-03', identifiers: ['anon:dev-03', 'anon:dev-04', 'user:u-03', 'user:u-04'], orders: 2, revenue: 20 }];
    expect(await profile()).toEqual(merged);
    const truth = await fromScratch(options, [...accountRows, ...tabletRows, ...againRows, ...aliasRows]);
    expect(await currentIdentities(db)).toEqual(truth.identities);

    const squashed = await runIdentityJob(db.client, { ...options, squashAfterNodes: 0 });
    expect(squashed.rewrittenBuckets).toBeGreaterThan(0);
    expect(await db.rows(moved.replace('FROM person_events', 'FROM person_events_stored'))).toEqual(expected);
    expect(await profile()).toEqual(merged);
    expect(await attribution(db)).toEqual(truth.attribution);
  }, 60_000);
});
