// Erasure of a person (docs/analytics.md, "Erasure (right to be forgotten)") on a real ClickHouse: everything of the
// erased person goes from the tables and the views, another person's data stays byte for byte, a device the erased
// person shared stays with the other person, and an erasure interrupted before any of its statements is completed by
// the next run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { str } from '../query/literal';
import { createTestDatabase, personsOf, type TestDatabase } from '../../test/support/clickhouse';
import { eventRow } from '../../test/support/events';
import { interruptingClient } from '../../test/support/interrupting-client';
import { collectTargets, processErasures, readErasure, requestErasure } from './erasure';
import { loadRows } from './generator/load';
import { sha256 } from './identity/identifiers';
import { runIdentityJob } from './identity/job';
import { segmentStore } from './segments';

const T = Date.UTC(2026, 5, 15, 12);
const minute = 60_000;
// Events are received at their event times, in the past: every run looks back over all of them.
const resolve = () => runIdentityJob(db.client, { overlapSeconds: 10 * 365 * 86_400 });
const count = async (query: string): Promise<number> => Number((await db.rows<{ n: number }>(`SELECT count() AS n FROM ${query}`))[0]?.n);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('erasure');
}, 60_000);
afterAll(() => db.drop());

/** A shopper with two devices, a login on each, and two orders (a repeat buyer). */
function shopper(name: string, at: number, phone: string) {
  return [
    eventRow({ type: 'page', name: 'Home', messageId: `${name}-page`, anonymousId: `${name}-laptop` }, at),
    eventRow({ type: 'identify', messageId: `${name}-identify`, userId: name, anonymousId: `${name}-laptop`, traits: { email: `${name}@example.com`, phone } }, at + minute),
    eventRow({ type: 'track', event: 'Order Completed', messageId: `${name}-order-1`, userId: name, anonymousId: `${name}-laptop`, properties: { order_id: `${name}-1`, revenue: 50 } }, at + 2 * minute),
    eventRow({ type: 'page', name: 'Cart', messageId: `${name}-phone-page`, anonymousId: `${name}-phone` }, at + 3 * minute),
    eventRow({ type: 'identify', messageId: `${name}-phone-identify`, anonymousId: `${name}-phone`, traits: { email: `${name}@example.com` } }, at + 4 * minute),
    eventRow({ type: 'track', event: 'Order Completed', messageId: `${name}-order-2`, anonymousId: `${name}-phone`, properties: { order_id: `${name}-2`, revenue: 70 } }, at + 5 * minute),
  ];
}

/** Everything the views and tables show of `person`, each view's rows in a fixed order. */
async function snapshot(person: string, nodes: readonly string[]): Promise<Record<string, string[]>> {
  const views: Record<string, string> = {
    profiles: `profiles WHERE person_id = ${str(person)}`,
    customer_value: `customer_value WHERE person_id = ${str(person)}`,
    person_orders: `person_orders WHERE person_id = ${str(person)}`,
    sessions: `sessions WHERE person_id = ${str(person)}`,
    person_events: `person_events WHERE person_id = ${str(person)}`,
    person_days: `person_days WHERE person_key = cityHash64(${str(person)})`,
    segment_members_current: `segment_members_current WHERE person_id = ${str(person)}`,
    identities_current: `identities_current WHERE identifier IN (${nodes.map(str).join(', ')})`,
    identity_edges: `identity_edges WHERE node IN (${nodes.map(str).join(', ')})`,
    events: `events WHERE message_id IN (SELECT message_id FROM person_events WHERE person_id = ${str(person)})`,
  };
  const shown: Record<string, string[]> = {};
  for (const [name, from] of Object.entries(views)) shown[name] = (await db.rows<object>(`SELECT * FROM ${from}`)).map((row) => JSON.stringify(row)).sort();
  return shown;
}

describe('erasing a person by e-mail', () => {
  it("deletes their events, graph, person rows and segment memberships, and leaves another person's data as it was", async () => {
    await loadRows(db.client, [...shopper('ann', T, '+7 999 111-11-11'), ...shopper('bob', T + 10 * minute, '+7 999 222-22-22')]);
    await resolve();
    await segmentStore(db.client).materializeAll({ error: () => undefined }, T + 60 * minute);
    await db.client.insert({
      table: 'consent_refusals',
      values: ['ann', 'bob'].map((id) => ({ id_hash: sha256(id), id_kind: 'user', refused_on: '2026-06-15' })),
      format: 'JSONEachRow',
    });
    await db.client.insert({
      table: 'events_quarantine',
      values: ['ann', 'bob'].map((id) => ({ received_at: '2026-06-15 12:00:00', source: 'web', reason: 'invalid', raw: JSON.stringify({ userId: id, event: 7 }) })),
      format: 'JSONEachRow',
    });
    const annNodes = ['user:ann', 'anon:ann-laptop', 'anon:ann-phone', `email:${sha256('ann@example.com')}`];
    const bobNodes = ['user:bob', 'anon:bob-laptop', 'anon:bob-phone', `email:${sha256('bob@example.com')}`];
    expect((await snapshot('user:ann', annNodes)).segment_members_current).toContainEqual(expect.stringContaining('builtin_repeat_buyers'));
    const bobBefore = await snapshot('user:bob', bobNodes);
    expect(bobBefore.segment_members_current).toContainEqual(expect.stringContaining('builtin_repeat_buyers'));
    expect(bobBefore.person_events).toHaveLength(6);

    const { id } = await requestErasure(db.client, { kind: 'email', value: ' ANN@example.com' });
    expect(await readErasure(db.client, id)).toMatchObject({ id, status: 'pending' });
    expect(await processErasures(db.client)).toEqual({ erased: 1 });

    const annAfter = await snapshot('user:ann', annNodes);
    for (const [view, rows] of Object.entries(annAfter)) expect(rows, view).toEqual([]);
    expect(await count("events WHERE message_id LIKE 'ann-%' OR user_id = 'ann' OR anonymous_id LIKE 'ann-%'")).toBe(0);
    expect(await count("identity_edges WHERE message_id LIKE 'ann-%'")).toBe(0);
    expect(await count("identities WHERE person_id = 'user:ann' OR identifier IN ('user:ann', 'anon:ann-laptop', 'anon:ann-phone')")).toBe(0);
    expect(await count("person_events_stored WHERE message_id LIKE 'ann-%'")).toBe(0);
    expect(await count("person_days_stored WHERE person_key = cityHash64('user:ann')")).toBe(0);
    expect(await count("segment_members WHERE person_id = 'user:ann'")).toBe(0);
    expect(await count(`consent_refusals WHERE id_hash = ${str(sha256('ann'))}`)).toBe(0);
    expect(await count("events_quarantine WHERE raw LIKE '%\"ann\"%'")).toBe(0);
    expect(await snapshot('user:bob', bobNodes)).toEqual(bobBefore);
    expect(await count(`consent_refusals WHERE id_hash = ${str(sha256('bob'))}`)).toBe(1);
    expect(await count("events_quarantine WHERE raw LIKE '%\"bob\"%'")).toBe(1);

    // Counted before deleting; the plain identifier is gone from the erasure's own tables, its node kept as a hash.
    expect(await readErasure(db.client, id)).toEqual({
      id,
      status: 'done',
      requestedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      finishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      deleted: expect.objectContaining({ events: 6, identity_edges: 7, person_events_stored: 6, consent_refusals: 1, events_quarantine: 1 }),
    });
    expect(await db.rows('SELECT status, kind, value, node, node_hash FROM erasures')).toEqual([
      { status: 'done', kind: 'email', value: '', node: '', node_hash: sha256(`email:${sha256('ann@example.com')}`) },
    ]);
    expect(await count('erasure_targets')).toBe(0);

    // The next identity run brings nothing of her back, and leaves bob as he was.
    await resolve();
    expect(await snapshot('user:ann', annNodes)).toEqual(annAfter);
    expect(await snapshot('user:bob', bobNodes)).toEqual(bobBefore);
  }, 60_000);
});

describe('erasing a person who shared a device', () => {
  it("keeps the other person's events on it, and the next identity run gives them the device", async () => {
    const at = T + 24 * 60 * minute;
    await loadRows(db.client, [
      eventRow({ type: 'page', name: 'Home', messageId: 'kiosk-pat-page', anonymousId: 'kiosk' }, at),
      eventRow({ type: 'identify', messageId: 'kiosk-pat-identify', userId: 'pat', anonymousId: 'kiosk' }, at + minute),
      eventRow({ type: 'track', event: 'Order Completed', messageId: 'kiosk-pat-order', userId: 'pat', anonymousId: 'kiosk', properties: { order_id: 'p1', revenue: 10 } }, at + 2 * minute),
      eventRow({ type: 'identify', messageId: 'kiosk-quinn-identify', userId: 'quinn', anonymousId: 'kiosk' }, at + 10 * minute),
      eventRow({ type: 'track', event: 'Order Completed', messageId: 'kiosk-quinn-order', userId: 'quinn', anonymousId: 'kiosk', properties: { order_id: 'q1', revenue: 20 } }, at + 11 * minute),
      eventRow({ type: 'page', name: 'Home', messageId: 'kiosk-quinn-page', anonymousId: 'kiosk' }, at + 12 * minute),
    ]);
    await resolve();
    expect(await db.rows("SELECT person_id FROM identities_current WHERE identifier = 'anon:kiosk' ORDER BY valid_from")).toEqual([{ person_id: 'user:pat' }, { person_id: 'user:quinn' }]);
    const quinnBefore = await db.rows("SELECT * FROM events WHERE message_id LIKE 'kiosk-quinn-%' ORDER BY message_id");
    expect(quinnBefore).toHaveLength(3);

    await requestErasure(db.client, { kind: 'userId', value: 'pat' });
    await processErasures(db.client);
    expect(await db.rows("SELECT message_id FROM events WHERE anonymous_id = 'kiosk' OR user_id = 'pat' ORDER BY message_id")).toEqual([
      { message_id: 'kiosk-quinn-identify' },
      { message_id: 'kiosk-quinn-order' },
      { message_id: 'kiosk-quinn-page' },
    ]);
    expect(await db.rows("SELECT * FROM events WHERE message_id LIKE 'kiosk-quinn-%' ORDER BY message_id")).toEqual(quinnBefore);
    expect(await count("identities WHERE person_id = 'user:pat' OR identifier = 'user:pat'")).toBe(0);
    expect(await count("identity_edges WHERE message_id LIKE 'kiosk-pat-%' OR node = 'user:pat'")).toBe(0);

    await resolve();
    expect(await personsOf(db, 'anon:kiosk')).toEqual(['user:quinn']);
    expect(await db.rows("SELECT message_id, person_id FROM person_events WHERE message_id LIKE 'kiosk-%' ORDER BY message_id")).toEqual([
      { message_id: 'kiosk-quinn-identify', person_id: 'user:quinn' },
      { message_id: 'kiosk-quinn-order', person_id: 'user:quinn' },
      { message_id: 'kiosk-quinn-page', person_id: 'user:quinn' },
    ]);
    expect(await count("identities WHERE person_id = 'user:pat'")).toBe(0);
  }, 60_000);
});

describe('an interrupted erasure', () => {
  it('is completed by the next run, after its targets were written', async () => {
    await loadRows(db.client, shopper('cat', T + 48 * 60 * minute, '+7 999 333-33-33'));
    await resolve();
    const { id } = await requestErasure(db.client, { kind: 'userId', value: 'cat' });
    const pending = await db.rows<{ id: string; kind: 'userId'; value: string; node: string }>(`SELECT id, kind, value, node FROM erasures WHERE id = ${str(id)}`);
    await collectTargets(db.client, pending[0] as { id: string; kind: 'userId'; value: string; node: string });
    expect(await count(`erasure_targets WHERE erasure_id = ${str(id)} AND kind = 'ready'`)).toBe(1);
    expect(await count("events WHERE message_id LIKE 'cat-%'")).toBe(6);

    await processErasures(db.client);
    expect(await readErasure(db.client, id)).toMatchObject({ status: 'done', deleted: expect.objectContaining({ events: 6 }) });
    expect(await count("events WHERE message_id LIKE 'cat-%' OR user_id = 'cat' OR anonymous_id LIKE 'cat-%'")).toBe(0);
    expect(await count("person_events WHERE person_id = 'user:cat'")).toBe(0);
  }, 60_000);

  it('is completed by the next run whichever of its statements the process died before', async () => {
    const expected = { events: 6, identity_edges: 7, person_events_stored: 6 };
    for (let failAt = 1; ; failAt++) {
      const name = `dan${failAt}`;
      await loadRows(db.client, shopper(name, T + (72 + failAt) * 60 * minute, `+7 999 4${String(failAt).padStart(6, '0')}`));
      await resolve();
      const { id } = await requestErasure(db.client, { kind: 'userId', value: name });
      const log: string[] = [];
      const interrupted = await processErasures(interruptingClient(db.client, failAt, log)).then(
        () => false,
        () => true,
      );
      await processErasures(db.client);
      expect(await readErasure(db.client, id), `died before statement ${failAt}: ${log.at(-1)}`).toMatchObject({ status: 'done', deleted: expect.objectContaining(expected) });
      expect(await count(`events WHERE user_id = ${str(name)} OR anonymous_id LIKE ${str(`${name}-%`)}`)).toBe(0);
      expect(await count(`person_events WHERE person_id = ${str(`user:${name}`)}`)).toBe(0);
      expect(await count(`identities WHERE person_id = ${str(`user:${name}`)}`)).toBe(0);
      expect(await count(`erasures WHERE value != '' OR node != ''`)).toBe(0);
      expect(await count('erasure_targets')).toBe(0);
      // The run that was not interrupted: every statement has been tried once.
      if (!interrupted) break;
    }
  }, 300_000);
});
