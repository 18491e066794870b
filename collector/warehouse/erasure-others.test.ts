// Erasure must never delete another person's data (docs/analytics.md, "Erasure (right to be forgotten)"): events
// that merely carry one of the erased person's device ids, or a message id that the erased person's events also use
// (clients choose message ids: another day, another source), stay with their person, in events, the graph and
// person_events, before and after the next identity run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { str } from '../query/literal';
import { createTestDatabase, personsOf, type TestDatabase } from '../../test/support/clickhouse';
import { eventRow } from '../../test/support/events';
import { processErasures, requestErasure } from './erasure';
import { loadRows } from './generator/load';
import { sha256 } from './identity/identifiers';
import { linkMessageId, runIdentityJob } from './identity/job';

const T = Date.UTC(2026, 5, 15, 12);
const minute = 60_000;
const day = 24 * 60 * minute;
const resolve = () => runIdentityJob(db.client, { overlapSeconds: 10 * 365 * 86_400 });

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('erasure_others');
}, 60_000);
afterAll(() => db.drop());

/** What the tables and views hold of `person`'s events and graph, each in a fixed order. */
async function holdings(person: string): Promise<Record<string, unknown[]>> {
  const keys = `(SELECT source, message_id, original_day FROM person_events WHERE person_id = ${str(person)})`;
  return {
    person_events: await db.rows(`SELECT source, message_id, original_day, node FROM person_events WHERE person_id = ${str(person)} ORDER BY source, message_id, original_day`),
    events: await db.rows(`SELECT source, message_id, toDate(original_timestamp) AS d, user_id, anonymous_id FROM events WHERE (source, message_id, toDate(original_timestamp)) IN ${keys} ORDER BY source, message_id, d`),
    identities_current: await db.rows(`SELECT identifier, valid_from FROM identities_current WHERE person_id = ${str(person)} ORDER BY identifier, valid_from`),
  };
}

describe("erasing a person leaves another person's events that carry the person's device id", () => {
  it("keeps bob's event sent with his userId from ann's device (no identify of his there), in events and person_events", async () => {
    await loadRows(db.client, [
      eventRow({ type: 'identify', messageId: 'ann-identify', userId: 'ann', anonymousId: 'ann-laptop' }, T),
      eventRow({ type: 'page', name: 'Home', messageId: 'ann-page', anonymousId: 'ann-laptop' }, T + minute),
      eventRow({ type: 'identify', messageId: 'bob-identify', userId: 'bob', anonymousId: 'bob-phone' }, T + 2 * minute),
      // Bob, logged in to the shop's backend on ann's laptop: his userId, the laptop's anonymousId, no identify.
      eventRow({ type: 'track', event: 'Order Completed', messageId: 'bob-order', userId: 'bob', anonymousId: 'ann-laptop', properties: { order_id: 'b1', revenue: 30 } }, T + 3 * minute),
    ]);
    await resolve();
    // The laptop is ann's alone: bob never identified on it.
    expect(await personsOf(db, 'anon:ann-laptop')).toEqual(['user:ann']);
    const bobBefore = await holdings('user:bob');
    expect(bobBefore.person_events).toHaveLength(2);

    await requestErasure(db.client, { kind: 'userId', value: 'ann' });
    await processErasures(db.client);
    expect(await holdings('user:bob')).toEqual(bobBefore);
    expect(await db.rows("SELECT message_id FROM events WHERE user_id = 'ann' OR message_id LIKE 'ann-%'")).toEqual([]);

    await resolve();
    expect(await holdings('user:bob')).toEqual(bobBefore);
  }, 60_000);
});

describe("erasing a person leaves another person's events whose message id the person's events also use", () => {
  it("keeps dee's identify of another day and dee's identify of another source, with their edges", async () => {
    const at = T + 10 * day;
    await loadRows(db.client, [
      eventRow({ type: 'identify', messageId: 'cy-identify', userId: 'cy', anonymousId: 'cy-laptop' }, at),
      // Message ids a backend numbers itself: cy's events use "1" and "2" first…
      eventRow({ type: 'track', event: 'Viewed', messageId: '1', userId: 'cy', anonymousId: 'cy-laptop' }, at + minute),
      eventRow({ type: 'track', event: 'Viewed', messageId: '2', userId: 'cy', anonymousId: 'cy-laptop' }, at + 2 * minute, 'backend'),
      // …and so do dee's identifies: "1" the next day from the same source, "2" from another source.
      eventRow({ type: 'identify', messageId: '1', userId: 'dee', anonymousId: 'dee-laptop' }, at + day),
      eventRow({ type: 'page', name: 'Home', messageId: 'dee-page', anonymousId: 'dee-laptop' }, at + day + minute),
      eventRow({ type: 'identify', messageId: '2', userId: 'dee', anonymousId: 'dee-phone' }, at + day + 2 * minute),
      eventRow({ type: 'page', name: 'Home', messageId: 'dee-phone-page', anonymousId: 'dee-phone' }, at + day + 3 * minute),
    ]);
    await resolve();
    const deeBefore = await holdings('user:dee');
    expect(deeBefore.person_events).toHaveLength(4);
    expect(deeBefore.identities_current).toHaveLength(3);
    const deeEdges = await db.rows("SELECT message_id, node FROM identity_edges WHERE node LIKE '%dee%' ORDER BY message_id, node");
    expect(deeEdges).toHaveLength(4);

    await requestErasure(db.client, { kind: 'userId', value: 'cy' });
    await processErasures(db.client);
    expect(await db.rows("SELECT message_id FROM events WHERE user_id = 'cy' OR anonymous_id = 'cy-laptop'")).toEqual([]);
    expect(await holdings('user:dee')).toEqual(deeBefore);
    expect(await db.rows("SELECT message_id, node FROM identity_edges WHERE node LIKE '%dee%' ORDER BY message_id, node")).toEqual(deeEdges);

    await resolve();
    expect(await holdings('user:dee')).toEqual(deeBefore);
  }, 60_000);
});

describe('erasing a person named in identity_run_nodes by a run killed after its checkpoint', () => {
  it('deletes those rows too, so the plain userId does not wait there for the next run that has work', async () => {
    const at = T + 20 * day;
    await loadRows(db.client, [eventRow({ type: 'identify', messageId: 'eve-identify', userId: 'eve', anonymousId: 'eve-laptop' }, at)]);
    await resolve();
    // What a run killed between its checkpoint and its TRUNCATE leaves: its nodes, at its (completed) version.
    const [checkpoint] = await db.rows<{ v: number }>("SELECT max(version) AS v FROM job_checkpoints WHERE job = 'identity'");
    await db.client.insert({ table: 'identity_run_nodes', values: [{ version: Number(checkpoint?.v), node: 'user:eve' }, { version: Number(checkpoint?.v), node: 'anon:eve-laptop' }], format: 'JSONEachRow' });
    // A run with nothing new reads only versions above the checkpoint's, and leaves the table as it is.
    await resolve();

    await requestErasure(db.client, { kind: 'userId', value: 'eve' });
    await processErasures(db.client);
    expect(await db.rows("SELECT node FROM identity_run_nodes WHERE node LIKE '%eve%'")).toEqual([]);
  }, 60_000);
});

describe("erasing a person whose app repeated another person's e-mail in context.traits", () => {
  it("deletes the person's link message whole, and leaves the e-mail's owner as they were", async () => {
    const at = T + 30 * day;
    const fay = `email:${sha256('fay@example.com')}`;
    await loadRows(db.client, [
      eventRow({ type: 'identify', messageId: 'fay-identify', userId: 'fay', anonymousId: 'fay-laptop', traits: { email: 'fay@example.com' } }, at),
      eventRow({ type: 'page', name: 'Home', messageId: 'fay-page', anonymousId: 'fay-laptop' }, at + minute),
      // Gus's app still holds fay's e-mail (a login switch on a shared tablet): a link of gus and fay's e-mail, which
      // rule 1 leaves with fay, who gave it first.
      eventRow({ type: 'identify', messageId: 'gus-identify', userId: 'gus', anonymousId: 'gus-tablet' }, at + 2 * minute),
      eventRow({ type: 'track', event: 'Viewed', messageId: 'gus-viewed', userId: 'gus', anonymousId: 'gus-tablet', context: { traits: { email: 'fay@example.com' } } }, at + 3 * minute),
    ]);
    await resolve();
    const link = linkMessageId(['user:gus', fay]);
    expect(await db.rows(`SELECT node FROM identity_edges WHERE message_id = ${str(link)} ORDER BY node`)).toEqual([{ node: fay }, { node: 'user:gus' }]);
    expect(await personsOf(db, fay)).toEqual(['user:fay']);
    const fayBefore = await holdings('user:fay');

    await requestErasure(db.client, { kind: 'userId', value: 'gus' });
    await processErasures(db.client);
    // The link named gus: no edge of it stays (its name is the hash of gus's userId and the e-mail).
    expect(await db.rows(`SELECT node FROM identity_edges WHERE message_id = ${str(link)}`)).toEqual([]);
    expect(await holdings('user:fay')).toEqual(fayBefore);

    await resolve();
    expect(await holdings('user:fay')).toEqual(fayBefore);
    expect(await db.rows(`SELECT node FROM identity_edges WHERE message_id = ${str(link)}`)).toEqual([]);
  }, 60_000);
});

describe('erasing a person by an e-mail that another account gave after them', () => {
  it("erases the first claimant (rule 1: the e-mail's person) and leaves the other account as it was", async () => {
    const at = T + 40 * day;
    await loadRows(db.client, [
      eventRow({ type: 'identify', messageId: 'hal-identify', userId: 'hal', anonymousId: 'hal-laptop', traits: { email: 'home@example.com' } }, at),
      eventRow({ type: 'identify', messageId: 'ida-identify', userId: 'ida', anonymousId: 'ida-phone', traits: { email: 'home@example.com' } }, at + minute),
      eventRow({ type: 'page', name: 'Home', messageId: 'ida-page', anonymousId: 'ida-phone' }, at + 2 * minute),
    ]);
    await resolve();
    expect(await personsOf(db, `email:${sha256('home@example.com')}`)).toEqual(['user:hal']);
    const idaBefore = await holdings('user:ida');
    expect(idaBefore.person_events).toHaveLength(2);

    await requestErasure(db.client, { kind: 'email', value: 'Home@Example.com ' });
    await processErasures(db.client);
    expect(await db.rows("SELECT message_id FROM events WHERE message_id LIKE 'hal-%' OR user_id = 'hal'")).toEqual([]);
    expect(await holdings('user:ida')).toEqual(idaBefore);
    await resolve();
    expect(await holdings('user:ida')).toEqual(idaBefore);
    expect(await db.rows("SELECT identifier FROM identities_current WHERE person_id = 'user:hal' OR identifier LIKE '%hal%'")).toEqual([]);
  }, 60_000);
});

describe('a segment refresh that read the person before the erasure deleted them', () => {
  it('has its membership of the person deleted before the erasure is done, though stored after the first DELETE', async () => {
    const at = T + 50 * day;
    await loadRows(db.client, [eventRow({ type: 'identify', messageId: 'jo-identify', userId: 'jo', anonymousId: 'jo-laptop' }, at)]);
    await resolve();
    await requestErasure(db.client, { kind: 'userId', value: 'jo' });
    // The segments job runs under its own lease, alongside: its INSERT … SELECT read person_events before the DELETEs
    // and stores its members right after the erasure's DELETE of segment_members was issued.
    let raced = false;
    const racing = new Proxy(db.client, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (prop !== 'command' || typeof value !== 'function') return value;
        return async (params: { query: string }): Promise<unknown> => {
          const result: unknown = await Reflect.apply(value, target, [params]);
          if (params.query.startsWith('ALTER TABLE segment_members DELETE') && !raced) {
            raced = true;
            const member = { segment_id: 'builtin_repeat_buyers', run: Date.now(), run_token: 'refresh', person_id: 'user:jo', computed_at: '2026-08-04 12:00:00' };
            await db.client.insert({ table: 'segment_members', values: [member], format: 'JSONEachRow' });
          }
          return result;
        };
      },
    });
    await processErasures(racing);
    expect(raced).toBe(true);
    expect(await db.rows("SELECT run_token FROM segment_members WHERE person_id = 'user:jo'")).toEqual([]);
  }, 60_000);
});
