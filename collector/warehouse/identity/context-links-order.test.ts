// Rule 4 of docs/analytics.md for the links of context.traits (events.context_identity): the same identities and
// person_events whatever order the events arrive in and however the job's runs split them, and a run interrupted
// between any two of its statements is completed by the next one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/clickhouse';
import { eventRow } from '../../../test/support/events';
import { interruptingClient } from '../../../test/support/interrupting-client';
import { toDateTimeText, type EventRow } from '../../ingest/normalize';
import { loadRows } from '../generator/load';
import { seededRandom } from '../generator/random';
import { sha256 } from './identifiers';
import { runIdentityJob } from './job';

const T = Date.UTC(2026, 5, 15, 12);
const minute = 60_000;
const hour = 60 * minute;
// Events are received at their event times (some later), in the past: every run looks back over all of them.
const options = { overlapSeconds: 10 * 365 * 86_400 };

const track = (messageId: string, at: number, userId: string, anonymousId: string, traits?: Record<string, unknown>) =>
  eventRow({ type: 'track', event: 'Opened', messageId, userId, ...(anonymousId ? { anonymousId } : {}), ...(traits ? { context: { traits } } : {}) }, at);
const identify = (messageId: string, at: number, userId: string, anonymousId: string, traits: Record<string, unknown>) =>
  eventRow({ type: 'identify', messageId, userId, anonymousId, traits }, at);
const page = (messageId: string, at: number, anonymousId: string) => eventRow({ type: 'page', name: 'Home', messageId, anonymousId }, at);
/** `row` delivered again (a retry) `later` ms after it was first received. */
const retried = (row: EventRow, later: number): EventRow => ({ ...row, received_at: toDateTimeText(Date.parse(`${row.received_at.replace(' ', 'T')}Z`) + later) });

const rows: EventRow[] = [
  // ann identified with her e-mail; her app repeats it (nothing new), then adds her phone (a new link).
  page('ann-page', T, 'ann-laptop'),
  identify('ann-identify', T + minute, 'ann', 'ann-laptop', { email: 'ann@example.com' }),
  track('ann-1', T + 2 * minute, 'ann', 'ann-phone', { email: 'ANN@example.com' }),
  track('ann-2', T + hour, 'ann', 'ann-phone', { email: 'ann@example.com', phone: '+7 999 123 45 67' }),
  // bo never identified; one event retried, and one older event that reached ClickHouse last (a replayed spool).
  page('bo-page', T, 'bo-phone'),
  track('bo-1', T + 10 * minute, 'bo', 'bo-phone', { email: 'bo@example.com' }),
  track('bo-2', T + 20 * minute, 'bo', 'bo-phone', { email: 'bo@example.com' }),
  retried(track('bo-2', T + 20 * minute, 'bo', 'bo-phone', { email: 'bo@example.com' }), 5 * minute),
  { ...track('bo-0', T - 24 * hour, 'bo', 'bo-phone', { email: 'bo@example.com' }), received_at: toDateTimeText(T + 5 * hour) },
  // A family computer: cy, then di log in on it (a shared device); di's app repeats cy's e-mail, which joins no one
  // (two userIds): the e-mail stays cy's, the device shared.
  identify('cy-identify', T + 30 * minute, 'cy', 'family-pc', { email: 'cy@example.com' }),
  page('family-1', T + hour, 'family-pc'),
  identify('di-identify', T + 2 * hour, 'di', 'family-pc', { email: 'di@example.com' }),
  page('family-2', T + 3 * hour, 'family-pc'),
  track('di-1', T + 4 * hour, 'di', 'di-phone', { email: 'cy@example.com' }),
  // ed changed his e-mail: both are his.
  track('ed-1', T + hour, 'ed', 'ed-phone', { email: 'ed@example.com' }),
  track('ed-2', T + 2 * hour, 'ed', 'ed-phone', { email: 'ed.new@example.com' }),
  // A crawler logged in with ann's e-mail: no link.
  { ...track('bot-1', T + hour, 'monitor', 'monitor-device', { email: 'ann@example.com' }), is_bot: 1, library_name: 'analytics.js' },
  // fay's phone, as her identify gave it and as her app repeats it (a number): nothing new.
  identify('fay-identify', T, 'fay', 'fay-phone', { phone: '+79991112233' }),
  track('fay-1', T + minute, 'fay', 'fay-phone', { phone: 79991112233 }),
  // gil and gus share one e-mail in their apps' traits: two persons, the e-mail gil's (the first to give it).
  track('gil-1', T + minute, 'gil', '', { email: 'team@example.com' }),
  track('gus-1', T + 2 * minute, 'gus', '', { email: 'team@example.com' }),
  // jan's app gave the desk's e-mail before kit identified with it, and jan identified with it after: the e-mail is
  // jan's from the app's event on, though jan's identify holds the same nodes (it is later than the app's event).
  track('jan-1', T + minute, 'jan', '', { email: 'desk@example.com' }),
  identify('kit-identify', T + 5 * minute, 'kit', 'kit-laptop', { email: 'desk@example.com' }),
  identify('jan-identify', T + 10 * minute, 'jan', 'jan-laptop', { email: 'desk@example.com' }),
  // A server-side alias (no anonymousId) from ivo to zoe; ivo's app events say ivo was a userId: the person is user:ivo.
  eventRow({ type: 'alias', messageId: 'zoe-alias', userId: 'zoe', previousId: 'ivo', traits: { email: 'zoe@example.com' } }, T + hour),
  track('ivo-1', T + 2 * hour, 'ivo', '', { email: 'zoe@example.com' }),
];

const identities = (db: TestDatabase) =>
  db.rows<{ identifier: string; valid_from: string; person_id: string }>('SELECT identifier, valid_from, person_id FROM identities_current ORDER BY identifier, valid_from');
const attribution = (db: TestDatabase) => db.rows<{ message_id: string; person_id: string }>('SELECT message_id, person_id FROM person_events ORDER BY message_id');
const outcome = async (db: TestDatabase) => ({ identities: await identities(db), attribution: await attribution(db) });

let whole: TestDatabase;
let expected: Awaited<ReturnType<typeof outcome>>;
beforeAll(async () => {
  whole = await createTestDatabase('context_order');
  await loadRows(whole.client, rows);
  await runIdentityJob(whole.client, options);
  expected = await outcome(whole);
}, 60_000);
afterAll(() => whole.drop());

describe('context links, whatever the order and the runs', () => {
  it('resolve the whole set as intended', () => {
    const personOf = new Map(expected.identities.map((r) => [r.identifier, r.person_id]));
    expect(personOf.get('user:di')).toBe('user:di');
    expect(personOf.get(`email:${sha256('cy@example.com')}`)).toBe('user:cy');
    expect(expected.identities.filter((r) => r.identifier === 'anon:family-pc').map((r) => r.person_id)).toEqual(['user:cy', 'user:di']);
    expect(personOf.get('user:gus')).toBe('user:gus');
    expect(personOf.get(`email:${sha256('team@example.com')}`)).toBe('user:gil');
    expect(personOf.get(`email:${sha256('desk@example.com')}`)).toBe('user:jan');
    expect(personOf.get('user:kit')).toBe('user:kit');
    expect(personOf.get('user:monitor')).toBeUndefined();
    expect(personOf.get('user:zoe')).toBe('user:ivo');
    expect(expected.attribution.find((r) => r.message_id === 'bo-0')?.person_id).toBe('user:bo');
  });

  it('give the same identities and person_events for shuffled events resolved a few at a time', async () => {
    for (const seed of [3, 8]) {
      const db = await createTestDatabase('context_order_steps');
      try {
        const shuffled = seededRandom(seed).shuffle([...rows]);
        for (let i = 0; i < shuffled.length; i += 3) {
          await loadRows(db.client, shuffled.slice(i, i + 3));
          await runIdentityJob(db.client, { ...options, squashAfterNodes: 1e9 });
        }
        expect({ seed, ...(await outcome(db)) }).toEqual({ seed, ...expected });
      } finally {
        await db.drop();
      }
    }
  }, 120_000);

  it('are completed by the next run after a run interrupted before any of its statements', async () => {
    const shuffled = seededRandom(5).shuffle([...rows]);
    const [first, second] = [shuffled.slice(0, 10), shuffled.slice(10)];
    const scenario = async (db: TestDatabase, failAt: number, log: string[]) => {
      await loadRows(db.client, first);
      await runIdentityJob(db.client, options);
      await loadRows(db.client, second);
      return runIdentityJob(interruptingClient(db.client, failAt, log), { ...options, squashAfterNodes: 0 });
    };
    const statements: string[] = [];
    const reference = await createTestDatabase('context_order_reference');
    try {
      expect((await scenario(reference, 0, statements)).links).toBeGreaterThan(0);
      expect(await outcome(reference)).toEqual(expected);
    } finally {
      await reference.drop();
    }
    expect(statements).toEqual(expect.arrayContaining(['insert identity_run_nodes', 'insert identity_edges', 'insert identities', 'insert job_checkpoints']));
    const interruptAndRecover = async (failAt: number): Promise<void> => {
      const db = await createTestDatabase('context_order_interrupted');
      try {
        const kind = statements[failAt - 1];
        await expect(scenario(db, failAt, [])).rejects.toThrow(`interrupted before ${kind}`);
        await runIdentityJob(db.client, { ...options, squashAfterNodes: 0 });
        expect({ failAt, kind, ...(await outcome(db)) }).toEqual({ failAt, kind, ...expected });
        // Nothing twice: a further run finds no event and no link to add.
        expect({ failAt, ...(await runIdentityJob(db.client, options)) }).toMatchObject({ failAt, events: 0, links: 0 });
      } finally {
        await db.drop();
      }
    };
    const points = statements.map((_, i) => i + 1);
    for (let i = 0; i < points.length; i += 4) await Promise.all(points.slice(i, i + 4).map(interruptAndRecover));
  }, 300_000);
});
