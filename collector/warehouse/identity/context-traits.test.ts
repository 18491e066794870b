// The e-mail and phone that Segment's mobile libraries and RudderStack's SDKs repeat in context.traits on every
// event: the identity job links them to the event's userId (events.context_identity, migration 043), once per
// link however many events carry it, and never through a device.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, personsOf, type TestDatabase } from '../../../test/support/clickhouse';
import { eventRow } from '../../../test/support/events';
import { parseSegmentRule } from '../../query/segment-rules';
import { readCheckpoint } from '../checkpoints';
import { loadRows } from '../generator/load';
import { segmentStore, type ExportRow } from '../segments';
import { sha256 } from './identifiers';
import { identityJob, linkMessageId, runIdentityJob } from './job';

const T = Date.UTC(2026, 5, 15, 12);
const minute = 60_000;
// Events are received at their event times, in the past: every run looks back over all of them.
const overlapSeconds = 10 * 365 * 86_400;
const resolve = () => runIdentityJob(db.client, { overlapSeconds });

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('context_traits');
}, 60_000);
afterAll(() => db.drop());

/** A mobile library's track event: the user's traits repeated in context.traits. */
const tracked = (messageId: string, at: number, ids: { userId?: string; anonymousId?: string }, traits: Record<string, unknown>, type = 'track') =>
  eventRow({ type, event: 'Product Viewed', messageId, ...ids, context: { traits } }, at);

const personOf = (identifier: string) => personsOf(db, identifier);

/** identity_edges' messages that hold `node`, each with its nodes, sorted. */
const messagesWith = (node: string) =>
  db.rows<{ message_id: string; nodes: string[] }>(
    `SELECT message_id, arraySort(groupUniqArray(node)) AS nodes FROM identity_edges
     WHERE message_id IN (SELECT message_id FROM identity_edges WHERE node = '${node}') GROUP BY message_id ORDER BY message_id`,
  );

const email = (text: string) => `email:${sha256(text)}`;

describe('context.traits of events with a userId', () => {
  it("map the e-mail to the user's person without any identify, so an export of the user carries it", async () => {
    await loadRows(db.client, [
      tracked('ann-1', T - 10 * minute, { userId: 'ann', anonymousId: 'ann-phone' }, { email: ' Ann@Example.com ', name: 'Ann' }),
      tracked('ann-2', T - 9 * minute, { userId: 'ann', anonymousId: 'ann-phone' }, { email: ' Ann@Example.com ', name: 'Ann' }),
    ]);
    const run = await resolve();
    expect(run).toMatchObject({ events: 0, links: 1 });
    expect(await personOf(email('ann@example.com'))).toEqual(['user:ann']);
    // Strong nodes only, in one message named after them: no device.
    const annNodes = ['email:' + sha256('ann@example.com'), 'user:ann'];
    expect(await messagesWith('user:ann')).toEqual([{ message_id: linkMessageId(annNodes), nodes: annNodes }]);
    expect(await personOf('anon:ann-phone')).toEqual([]);
    // The checkpoint follows these events too.
    expect((await readCheckpoint(db.client, identityJob)).position).toBe((T - 9 * minute) / 1000);

    const store = segmentStore(db.client);
    const saved = await store.create('Viewers', parseSegmentRule({ event: 'Product Viewed' }));
    expect(await store.materialize(saved, T)).toMatchObject({ members: 1 });
    const exported = await store.contactExport(saved.id, { requirement: 'unless_denied', marketingIds: [] });
    const rows: ExportRow[] = [];
    for await (const row of exported.rows) rows.push(row);
    expect(rows).toEqual([{ person_id: 'user:ann', emails: [sha256('ann@example.com')], phones: [], phone_digits: [] }]);
  });

  it('add one message per link however many events carry it, over incremental runs with overlapping windows', async () => {
    // 500 events of one user and e-mail, loaded in five parts, each part older than the one before: the earliest
    // event of the window changes from run to run, the link does not. An older event moves the link's time back (the
    // user's claim on the e-mail counts from it, rule 1): the same message is stored again with it; a newer one, never.
    const boNodes = [email('bo@example.com'), 'user:bo'].sort();
    const linkTime = () => db.rows<{ ts: number }>(`SELECT toUInt32(min(timestamp)) AS ts FROM identity_edges WHERE message_id = '${linkMessageId(boNodes)}'`);
    for (let part = 0; part < 5; part++) {
      const events = Array.from({ length: 100 }, (_, i) =>
        tracked(`bo-${part}-${i}`, T - (part + 1) * 1000 * minute + i * minute, { userId: 'bo', anonymousId: `bo-device-${i % 3}` }, { email: 'bo@example.com' }),
      );
      await loadRows(db.client, events);
      expect((await resolve()).links).toBe(1);
      expect(await linkTime()).toEqual([{ ts: (T - (part + 1) * 1000 * minute) / 1000 }]);
      expect((await resolve()).links).toBe(0);
    }
    const newer = Array.from({ length: 10 }, (_, i) => tracked(`bo-new-${i}`, T - 100 * minute + i * minute, { userId: 'bo' }, { email: 'bo@example.com' }));
    await loadRows(db.client, newer);
    expect((await resolve()).links).toBe(0);
    expect(await messagesWith('user:bo')).toEqual([{ message_id: linkMessageId(boNodes), nodes: boNodes }]);
    expect(await resolve()).toMatchObject({ events: 0, links: 0, identifiers: 0 });
    expect(await messagesWith('user:bo')).toHaveLength(1);
    expect(await personOf(email('bo@example.com'))).toEqual(['user:bo']);
  });

  it("add nothing for events without a userId, for the context.traits of identify and alias events, nor for a crawler's", async () => {
    await loadRows(db.client, [
      // A synthetic monitor logged in as a real customer (see crawlerDelivery): it joins no one.
      { ...tracked('bot-1', T - 5 * minute, { userId: 'monitor' }, { email: 'ops@example.com' }), is_bot: 1, library_name: 'analytics.js' },
      tracked('anon-1', T - 5 * minute, { anonymousId: 'cy-browser' }, { email: 'cy@example.com' }),
      tracked('di-identify', T - 5 * minute, { userId: 'di' }, { email: 'di@example.com' }, 'identify'),
      eventRow({ type: 'alias', messageId: 'ed-alias', userId: 'ed', previousId: 'ed-old', context: { traits: { email: 'ed@example.com' } } }, T - 5 * minute),
    ]);
    expect(await resolve()).toMatchObject({ events: 2, links: 0 });
    for (const address of ['cy@example.com', 'di@example.com', 'ed@example.com', 'ops@example.com']) expect(await personOf(email(address))).toEqual([]);
    expect(await messagesWith(email('cy@example.com'))).toEqual([]);
  });

  it('add nothing, run after run, for a userId that the config blocks since its events were stored', async () => {
    // The operator put a QA account on blockedIds after its events came in: its e-mail and phone are no userId's, a
    // link of them alone would name no user, and no message could ever hold it.
    const blocked = await createTestDatabase('context_traits_blocked');
    try {
      await loadRows(blocked.client, [tracked('qa-1', T - 5 * minute, { userId: 'qa-account' }, { email: 'qa@example.com', phone: '+7 999 555 66 77' })]);
      const run = () => runIdentityJob(blocked.client, { overlapSeconds, blockedIds: ['QA-account'] });
      expect(await run()).toMatchObject({ links: 0 });
      expect(await run()).toMatchObject({ links: 0 });
      expect(await blocked.rows("SELECT count() AS n FROM identity_edges WHERE message_id LIKE 'context:%'")).toEqual([{ n: 0 }]);
    } finally {
      await blocked.drop();
    }
  });

  it('give a phone its phone and phone_digits nodes', async () => {
    await loadRows(db.client, [tracked('fay-1', T - 4 * minute, { userId: 'fay' }, { phone: '+44 20 7183 8750' })]);
    expect(await resolve()).toMatchObject({ links: 1 });
    expect(await personOf(`phone:${sha256('+442071838750')}`)).toEqual(['user:fay']);
    expect(await personOf(`phone_digits:${sha256('442071838750')}`)).toEqual(['user:fay']);
  });

  it('add no link an identify already made, and add one that no single message made yet', async () => {
    await loadRows(db.client, [
      // gus identified with his e-mail; his track events say the same: nothing new.
      eventRow({ type: 'identify', messageId: 'gus-identify', userId: 'gus', traits: { email: 'gus@example.com' } }, T - 3 * minute),
      tracked('gus-1', T - 2 * minute, { userId: 'gus' }, { email: 'GUS@example.com' }),
      // hal identified once with his e-mail and once with his phone; his track events carry both: one message with all
      // three is new, though they already map to one person (a shared device's later identify could part them).
      eventRow({ type: 'identify', messageId: 'hal-email', userId: 'hal', traits: { email: 'hal@example.com' } }, T - 3 * minute),
      eventRow({ type: 'identify', messageId: 'hal-phone', userId: 'hal', traits: { phone: '+79991234567' } }, T - 3 * minute),
      tracked('hal-1', T - 2 * minute, { userId: 'hal' }, { email: 'hal@example.com', phone: 89991234567 }),
      // An e-mail that is none: only the userId is left, no link.
      tracked('ivy-1', T - 2 * minute, { userId: 'ivy' }, { email: 'not an address' }),
    ]);
    expect(await resolve()).toMatchObject({ events: 3, links: 1 });
    expect((await messagesWith('user:gus')).map((m) => m.message_id)).toEqual(['gus-identify']);
    const halNodes = ['user:hal', email('hal@example.com'), `phone:${sha256('+79991234567')}`, `phone_digits:${sha256('79991234567')}`];
    expect((await messagesWith('user:hal')).map((m) => m.message_id)).toEqual([linkMessageId(halNodes), 'hal-email', 'hal-phone']);
    expect(await messagesWith('user:ivy')).toEqual([]);
    expect(await resolve()).toMatchObject({ events: 0, links: 0 });
  });
});

describe('context links and message ids, which clients choose', () => {
  it("join no one through a message id that another source's event or another user's event also carries", async () => {
    const day = 86_400_000;
    await loadRows(db.client, [
      // The same message id from two sources: ned's identify on the web, max's track event in the app.
      eventRow({ type: 'identify', messageId: 'shared-1', userId: 'ned', anonymousId: 'ned-device', traits: { email: 'ned@example.com' } }, T - 3 * day),
      eventRow({ type: 'track', event: 'Opened', messageId: 'shared-1', userId: 'max', context: { traits: { email: 'max@example.com' } } }, T - 3 * day + minute, 'app'),
      // The same message id on two days (another events key): oz's and pat's track events.
      eventRow({ type: 'track', event: 'Opened', messageId: 'shared-2', userId: 'oz', context: { traits: { email: 'oz@example.com' } } }, T - 2 * day, 'app'),
      eventRow({ type: 'track', event: 'Opened', messageId: 'shared-2', userId: 'pat', context: { traits: { email: 'pat@example.com' } } }, T - day, 'app'),
    ]);
    expect(await resolve()).toMatchObject({ events: 1, links: 3 });
    const persons = async () =>
      Object.fromEntries(
        await Promise.all(
          ['user:ned', 'anon:ned-device', email('ned@example.com'), 'user:max', email('max@example.com'), 'user:oz', email('oz@example.com'), 'user:pat', email('pat@example.com')].map(
            async (node) => [node, await personOf(node)] as const,
          ),
        ),
      );
    const expected = {
      'user:ned': ['user:ned'], 'anon:ned-device': ['user:ned'], [email('ned@example.com')]: ['user:ned'],
      'user:max': ['user:max'], [email('max@example.com')]: ['user:max'],
      'user:oz': ['user:oz'], [email('oz@example.com')]: ['user:oz'],
      'user:pat': ['user:pat'], [email('pat@example.com')]: ['user:pat'],
    };
    expect(await persons()).toEqual(expected);
    // Nothing is read again: ned's identify is done, and so are the links.
    expect(await resolve()).toMatchObject({ events: 0, links: 0, identifiers: 0 });
    expect(await persons()).toEqual(expected);
  });
});

describe('a context link that merges two persons', () => {
  it("moves the events stored before it to the merged person, at read time and after the squash", async () => {
    const hour = 60 * minute;
    const kim = email('kim@example.com');
    // kim browsed, then subscribed on her laptop with her e-mail (an identify without userId); jo used the app. Each is
    // a person of their own.
    await loadRows(db.client, [
      eventRow({ type: 'page', name: 'Home', messageId: 'kim-page', anonymousId: 'kim-laptop' }, T - 5 * hour),
      eventRow({ type: 'identify', messageId: 'kim-identify', anonymousId: 'kim-laptop', traits: { email: 'kim@example.com' } }, T - 5 * hour + minute),
      eventRow({ type: 'track', event: 'Ordered', messageId: 'kim-order', anonymousId: 'kim-laptop' }, T - 5 * hour + 2 * minute),
      eventRow({ type: 'track', event: 'Opened', messageId: 'jo-open', userId: 'jo', anonymousId: 'jo-phone' }, T - 4 * hour),
    ]);
    await resolve();
    const messagePersons = () => db.rows<{ message_id: string; person_id: string }>(
      "SELECT message_id, person_id FROM person_events WHERE message_id IN ('kim-page', 'kim-identify', 'kim-order', 'jo-open', 'jo-later') ORDER BY message_id",
    );
    expect(await messagePersons()).toEqual([
      { message_id: 'jo-open', person_id: 'user:jo' },
      { message_id: 'kim-identify', person_id: kim },
      { message_id: 'kim-order', person_id: kim },
      { message_id: 'kim-page', person_id: kim },
    ]);

    // jo's app gives the subscriber's e-mail in context.traits: jo is the subscriber, one person named user:jo. (Had
    // another userId given that e-mail first, jo would stay apart: rule 1, shared-identifiers.test.ts.)
    await loadRows(db.client, [tracked('jo-later', T - 3 * hour, { userId: 'jo', anonymousId: 'jo-phone' }, { email: 'kim@example.com' })]);
    const run = await resolve();
    expect(run).toMatchObject({ events: 0, links: 1 });
    // kim's events were stored through her device, the only identifier to re-attribute.
    expect(run.staleIdentifiers).toBe(1);
    const merged = ['jo-later', 'jo-open', 'kim-identify', 'kim-order', 'kim-page'].map((message_id) => ({ message_id, person_id: 'user:jo' }));
    expect(await messagePersons()).toEqual(merged);
    expect(await db.rows(`SELECT DISTINCT node FROM stale_nodes WHERE node IN ('${kim}', 'anon:kim-laptop', 'user:jo', 'anon:jo-phone')`)).toEqual([{ node: 'anon:kim-laptop' }]);

    const squashed = await runIdentityJob(db.client, { overlapSeconds, squashAfterNodes: 0 });
    expect(squashed.rewrittenBuckets).toBeGreaterThan(0);
    expect(await db.rows('SELECT node FROM stale_nodes')).toEqual([]);
    expect(await messagePersons()).toEqual(merged);
    expect(
      await db.rows("SELECT message_id, person_id FROM person_events_stored WHERE message_id IN ('kim-page', 'kim-identify', 'kim-order', 'jo-open', 'jo-later') ORDER BY message_id"),
    ).toEqual(merged);
  });
});

describe("a context link of a server-side alias's previousId", () => {
  it('names the person after that userId, whether the alias came first, with it, or after it', async () => {
    // A server-side alias without anonymousId: its previousId may be an anonymous id, so it names the person only if
    // it was some message's userId too (docs/analytics.md, rule 3). The app's events with that userId and the e-mail
    // the alias gave say it was one: the link is that message, whatever the order.
    const alias = (n: number, at: number) =>
      eventRow({ type: 'alias', messageId: `zed-alias-${n}`, userId: `zed${n}`, previousId: `aaa${n}`, traits: { email: `zed${n}@example.com` } }, at);
    const app = (n: number, at: number) => tracked(`aaa-app-${n}`, at, { userId: `aaa${n}` }, { email: `zed${n}@example.com` });
    await loadRows(db.client, [alias(1, T - 20 * minute), app(1, T - 19 * minute)]);
    await resolve();
    await loadRows(db.client, [alias(2, T - 20 * minute)]);
    await resolve();
    await loadRows(db.client, [app(2, T - 19 * minute)]);
    await resolve();
    await loadRows(db.client, [app(3, T - 19 * minute)]);
    await resolve();
    await loadRows(db.client, [alias(3, T - 20 * minute)]);
    await resolve();
    for (const n of [1, 2, 3]) {
      expect({ n, persons: [...(await personOf(`user:zed${n}`)), ...(await personOf(`user:aaa${n}`)), ...(await personOf(email(`zed${n}@example.com`)))] }).toEqual({
        n,
        persons: [`user:aaa${n}`, `user:aaa${n}`, `user:aaa${n}`],
      });
    }
  });
});

describe('an identify stored with a context link\'s message id', () => {
  it("joins no one to the link's person: ingest refuses such ids now, but rows stored before (or spooled by an older collector) remain", async () => {
    const link = linkMessageId([email('nia@example.com'), 'user:nia']);
    // The row as an older collector stored it: validateEvent refuses the id today, so it is set after.
    const forged = { ...eventRow({ type: 'identify', messageId: 'forged', anonymousId: 'mallory-phone' }, T - 5 * minute), message_id: link };
    await loadRows(db.client, [tracked('nia-1', T - 10 * minute, { userId: 'nia' }, { email: 'nia@example.com' }), forged]);
    await resolve();
    expect(await personOf(email('nia@example.com'))).toEqual(['user:nia']);
    expect(await personOf('anon:mallory-phone')).not.toEqual(['user:nia']);
    expect((await messagesWith('anon:mallory-phone')).map((m) => m.message_id)).toEqual([]);
  });
});
