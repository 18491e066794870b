// Rule 1's limit of one userId per person, through the job and the analyst views: two accounts that share an e-mail
// (a family or office address, a QA address) stay two persons, their events, orders and profiles apart, and the
// e-mail stays with the account that gave it first, whatever the order the events arrive in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, personsOf, type TestDatabase } from '../../../test/support/clickhouse';
import { eventRow } from '../../../test/support/events';
import { loadRows } from '../generator/load';
import { sha256 } from './identifiers';
import { runIdentityJob } from './job';

const T = Date.UTC(2026, 5, 15, 12);
const minute = 60_000;
// Events are received at their event times, in the past: every run looks back over all of them.
const resolve = () => runIdentityJob(db.client, { overlapSeconds: 10 * 365 * 86_400 });
const office = `email:${sha256('office@example.com')}`;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('shared_identifiers');
}, 60_000);
afterAll(() => db.drop());

const personOf = (identifier: string) => personsOf(db, identifier);

describe('two userIds that give the same e-mail', () => {
  it('stay two persons, the e-mail with the first to give it, even when the later one arrives first', async () => {
    // max identified with the office address ten minutes after lea did, but his events reach the job first.
    await loadRows(db.client, [
      eventRow({ type: 'identify', messageId: 'max-identify', userId: 'max', anonymousId: 'max-laptop', traits: { email: ' Office@example.com' } }, T + 10 * minute),
      eventRow({ type: 'track', event: 'Order Completed', messageId: 'max-order', userId: 'max', anonymousId: 'max-laptop', properties: { order_id: 'm1', revenue: 30 } }, T + 11 * minute),
    ]);
    await resolve();
    expect(await personOf(office)).toEqual(['user:max']);
    await loadRows(db.client, [
      eventRow({ type: 'page', name: 'Home', messageId: 'lea-page', anonymousId: 'lea-laptop' }, T - minute),
      eventRow({ type: 'identify', messageId: 'lea-identify', userId: 'lea', anonymousId: 'lea-laptop', traits: { email: 'office@example.com' } }, T),
      eventRow({ type: 'track', event: 'Order Completed', messageId: 'lea-order', userId: 'lea', anonymousId: 'lea-laptop', properties: { order_id: 'l1', revenue: 50 } }, T + minute),
    ]);
    await resolve();

    expect(await personOf(office)).toEqual(['user:lea']);
    for (const node of ['user:lea', 'anon:lea-laptop']) expect(await personOf(node)).toEqual(['user:lea']);
    for (const node of ['user:max', 'anon:max-laptop']) expect(await personOf(node)).toEqual(['user:max']);
    expect(await db.rows("SELECT message_id, person_id FROM person_events WHERE message_id LIKE 'lea-%' OR message_id LIKE 'max-%' ORDER BY message_id")).toEqual([
      { message_id: 'lea-identify', person_id: 'user:lea' },
      { message_id: 'lea-order', person_id: 'user:lea' },
      { message_id: 'lea-page', person_id: 'user:lea' },
      { message_id: 'max-identify', person_id: 'user:max' },
      { message_id: 'max-order', person_id: 'user:max' },
    ]);
    expect(await db.rows("SELECT person_id, identifiers, orders, revenue FROM profiles WHERE person_id IN ('user:lea', 'user:max') ORDER BY person_id")).toEqual([
      { person_id: 'user:lea', identifiers: ['anon:lea-laptop', office, 'user:lea'], orders: 1, revenue: 50 },
      { person_id: 'user:max', identifiers: ['anon:max-laptop', 'user:max'], orders: 1, revenue: 30 },
    ]);
  });

  it("stay two persons when the second user's app repeats the e-mail in context.traits", async () => {
    await loadRows(db.client, [
      eventRow({ type: 'track', event: 'Opened', messageId: 'nia-open', userId: 'nia', anonymousId: 'nia-phone', context: { traits: { email: 'office@example.com' } } }, T + 20 * minute),
    ]);
    expect(await resolve()).toMatchObject({ links: 1 });
    expect(await personOf(office)).toEqual(['user:lea']);
    expect(await personOf('user:nia')).toEqual(['user:nia']);
    expect(await personOf('user:lea')).toEqual(['user:lea']);
    expect(await db.rows("SELECT person_id FROM person_events WHERE message_id = 'nia-open'")).toEqual([{ person_id: 'user:nia' }]);
  });
});

describe('a context link in the same second as an identify that holds its nodes', () => {
  // The resolver orders one second's messages by message id (rule 4). ann's app gave the desk's e-mail in the second
  // of her identify and of cal's; the link's message ('context:…') sorts before cal's identify, hers after it. The
  // link is ann's claim before cal's whether it reached the job before her identify or with it.
  const desk = `email:${sha256('desk@example.com')}`;
  const at = T + 60 * minute;
  const appEvent = eventRow({ type: 'track', event: 'Opened', messageId: 'ann-open', userId: 'ann', context: { traits: { email: 'desk@example.com' } } }, at + 300);
  const identifies = [
    eventRow({ type: 'identify', messageId: 'z-ann-identify', userId: 'ann', anonymousId: 'ann-laptop', traits: { email: 'desk@example.com' } }, at),
    eventRow({ type: 'identify', messageId: 'd-cal-identify', userId: 'cal', anonymousId: 'cal-laptop', traits: { email: 'desk@example.com' } }, at),
  ];
  const deskOwner = async (steps: (typeof identifies)[]) => {
    const stepped = await createTestDatabase('shared_identifiers_second');
    try {
      for (const step of steps) {
        await loadRows(stepped.client, step);
        await runIdentityJob(stepped.client, { overlapSeconds: 10 * 365 * 86_400 });
      }
      return await personsOf(stepped, desk);
    } finally {
      await stepped.drop();
    }
  };

  it('gives the e-mail to the same user whether the app event arrives first or with the identifies', async () => {
    expect(await deskOwner([[appEvent], identifies])).toEqual(['user:ann']);
    expect(await deskOwner([[appEvent, ...identifies]])).toEqual(['user:ann']);
  }, 60_000);
});
