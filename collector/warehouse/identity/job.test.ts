// The identity job against ClickHouse: matches the generator's truth, gives the same identities when the
// same events arrive in another order and in small increments, does nothing twice after a restart, and a run
// interrupted between any two of its statements is completed by the next run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/clickhouse';
import { generateDataset } from '../generator/generate';
import { deliveriesToRows, loadRows } from '../generator/load';
import { seededRandom } from '../generator/random';
import { createWarehouseClient } from '../client';
import { interruptingClient } from '../../../test/support/interrupting-client';
import { eventRow } from '../../../test/support/events';
import { sha256 } from './identifiers';
import { runIdentityJob, toMessages, type EdgeRow } from './job';

const dataset = generateDataset({ seed: 11, people: 400 });
// Hand-made beside the generated people (who each have an e-mail of their own): three accounts give one QA address
// and two of them one phone (rule 1: no two userIds in one person). qa-1 gave both first, though qa-2's identify is
// made first; a tablet that identified with the address alone goes with qa-1.
const T0 = Date.UTC(2026, 0, 10, 12);
const sharedRows = [
  eventRow({ type: 'identify', messageId: 'qa-2-identify', userId: 'qa-2', anonymousId: 'qa-2-device', traits: { email: 'qa@example.com', phone: '+7 999 000 11 22' } }, T0 + 60_000),
  eventRow({ type: 'identify', messageId: 'qa-1-identify', userId: 'qa-1', anonymousId: 'qa-1-device', traits: { email: ' QA@example.com', phone: '89990001122' } }, T0),
  eventRow({ type: 'identify', messageId: 'qa-3-identify', userId: 'qa-3', anonymousId: 'qa-3-device', traits: { email: 'qa@example.com' } }, T0 + 120_000),
  eventRow({ type: 'identify', messageId: 'qa-tablet-identify', anonymousId: 'qa-tablet', traits: { email: 'qa@example.com' } }, T0 + 180_000),
  eventRow({ type: 'track', event: 'Opened', messageId: 'qa-2-open', userId: 'qa-2', anonymousId: 'qa-2-device' }, T0 + 200_000),
  eventRow({ type: 'page', name: 'Home', messageId: 'qa-tablet-page', anonymousId: 'qa-tablet' }, T0 + 240_000),
];
const truthOfMessage = new Map([
  ...dataset.personOfMessage,
  ...Object.entries({ 'qa-1-identify': 'user:qa-1', 'qa-2-identify': 'user:qa-2', 'qa-3-identify': 'user:qa-3', 'qa-tablet-identify': 'user:qa-1', 'qa-2-open': 'user:qa-2', 'qa-tablet-page': 'user:qa-1' }),
]);
const rows = [...deliveriesToRows(dataset.deliveries), ...sharedRows];
let whole: TestDatabase;
let increments: TestDatabase;

const attribution = (db: TestDatabase) =>
  db.rows<{ message_id: string; person_id: string; received_at: string }>('SELECT message_id, person_id, received_at FROM person_events ORDER BY message_id');

/**
 * The per-person-day rollup follows the appends, the stale re-attribution and the bucket rewrites. It holds persons
 * only: events stored without ids (event:<message_id>) are left out (migrations/036_person_days_persons.sql).
 */
async function expectDaysMatchEvents(): Promise<void> {
  expect(await increments.rows('SELECT person_key, day, sum(events) AS n FROM person_days GROUP BY person_key, day ORDER BY person_key, day')).toEqual(
    await increments.rows(
      "SELECT person_key, toDate(timestamp) AS day, count() AS n FROM person_events WHERE person_id NOT LIKE 'event:%' GROUP BY person_key, day ORDER BY person_key, day",
    ),
  );
}

const identities = (db: TestDatabase) =>
  db.rows<{ identifier: string; valid_from: string; person_id: string }>(
    'SELECT identifier, valid_from, person_id FROM identities_current ORDER BY identifier, valid_from',
  );

beforeAll(async () => {
  [whole, increments] = await Promise.all([createTestDatabase('identity_whole'), createTestDatabase('identity_steps')]);
}, 60_000);
afterAll(async () => {
  await whole.drop();
  await increments.drop();
});

describe('identity job', () => {
  it('resolves every person of the generated data as the generator intended', async () => {
    await loadRows(whole.client, rows);
    const result = await runIdentityJob(whole.client);
    expect(result.events).toBe(new Set(rows.filter((r) => r.type === 'identify').map((r) => r.message_id)).size);
    const mapped = await identities(whole);
    const byIdentifier = new Map<string, string[]>();
    for (const row of mapped) byIdentifier.set(row.identifier, [...(byIdentifier.get(row.identifier) ?? []), row.person_id]);
    for (const person of dataset.persons.filter((p) => p.personId.startsWith('user:'))) {
      for (const node of person.nodes) {
        const shared = dataset.sharedDevices.get(node);
        expect({ node, persons: byIdentifier.get(node) }).toEqual({ node, persons: shared ?? [person.personId] });
      }
    }
    expect(dataset.sharedDevices.size).toBeGreaterThan(0);
    const qa = ['user:qa-1', 'user:qa-2', 'user:qa-3', 'anon:qa-tablet', `email:${sha256('qa@example.com')}`, `phone:${sha256('+79990001122')}`];
    expect(qa.map((node) => byIdentifier.get(node))).toEqual([['user:qa-1'], ['user:qa-2'], ['user:qa-3'], ['user:qa-1'], ['user:qa-1'], ['user:qa-1']]);
    // A completed run leaves no nodes to re-resolve behind it.
    expect(await whole.rows('SELECT node FROM identity_run_nodes')).toEqual([]);
  });

  it('gives the same identities for the same events in another order, resolved in small increments', async () => {
    const shuffled = seededRandom(5).shuffle([...rows]);
    const chunk = Math.ceil(shuffled.length / 12);
    let stale = 0;
    let rewritten = 0;
    for (let i = 0; i < shuffled.length; i += chunk) {
      await loadRows(increments.client, shuffled.slice(i, i + chunk));
      // Generated received_at values span months, so look back over all of them; expandLimit forces the
      // node-by-node component expansion rather than the whole-graph fallback. No squash: merges stay as
      // stale identifiers that the person_events view re-attributes at read time.
      const run = await runIdentityJob(increments.client, { overlapSeconds: 10 * 365 * 86_400, expandLimit: 100_000, squashAfterNodes: 1e9 });
      stale += run.staleIdentifiers;
      rewritten += run.rewrittenBuckets;
    }
    expect(await identities(increments)).toEqual(await identities(whole));
    // Devices that logged in after their first events were stored, merges, late identifies on shared devices…
    expect(stale).toBeGreaterThan(100);
    // …and retries stored before a newer delivery arrived (rewritten buckets).
    expect(rewritten).toBeGreaterThan(0);
    expect(await attribution(increments)).toEqual(await attribution(whole));
    // Twelve loads and job runs: well under the default 30 s alone, over it beside other jobs on a busy machine.
  }, 120_000);

  it('gives every event its true person in person_events, before and after the squash of stale identifiers', async () => {
    const truth = (await attribution(increments)).filter((r) => truthOfMessage.get(r.message_id) !== r.person_id);
    expect(truth.slice(0, 5)).toEqual([]);
    const [pending] = await increments.rows<{ n: number }>('SELECT count() AS n FROM stale_nodes');
    expect(Number(pending?.n)).toBeGreaterThan(0);
    await expectDaysMatchEvents();
    const before = await attribution(increments);
    const storedRows = () =>
      increments.rows<{ message_id: string; person_id: string; received_at: string }>('SELECT message_id, person_id, received_at FROM person_events_stored ORDER BY message_id');
    // Stored rows of stale identifiers still carry their old person: the view is what corrects them.
    expect(await storedRows()).not.toEqual(before);
    const squashed = await runIdentityJob(increments.client, { overlapSeconds: 10 * 365 * 86_400, squashAfterNodes: 0 });
    expect(squashed.rewrittenBuckets).toBeGreaterThan(0);
    expect(await increments.rows('SELECT node FROM stale_nodes')).toEqual([]);
    expect(await attribution(increments)).toEqual(before);
    expect(await storedRows()).toEqual(before);
    await expectDaysMatchEvents();
  });

  it('does no work twice, also after a restart (a new client reads the persisted checkpoint)', async () => {
    const restarted = createWarehouseClient(increments.url, increments.database);
    try {
      expect(await runIdentityJob(restarted, { overlapSeconds: 10 * 365 * 86_400, squashAfterNodes: 1e9 })).toEqual({ events: 0, links: 0, identifiers: 0, staleIdentifiers: 0, personEvents: 0, rewrittenBuckets: 0 });
    } finally {
      await restarted.close();
    }
  });
});

describe('identity job interrupted between statements', () => {
  const crashData = generateDataset({ seed: 23, people: 30 });
  const shuffled = seededRandom(7).shuffle(deliveriesToRows(crashData.deliveries));
  const [first, second] = [shuffled.slice(0, shuffled.length / 2), shuffled.slice(shuffled.length / 2)];
  const overlapSeconds = 10 * 365 * 86_400;
  const days = (db: TestDatabase) => db.rows('SELECT person_key, day, sum(events) AS n FROM person_days GROUP BY person_key, day ORDER BY person_key, day');
  const outcome = async (db: TestDatabase) => ({ identities: await identities(db), attribution: await attribution(db), days: await days(db) });

  /**
   * Loads the first half of the events and runs the job, then the second half and runs it through `interrupt`
   * (which records each write statement and may throw before one), uninterrupted first, then interrupted before
   * each of the `points` chosen from its statements, each time followed by a plain run: the outcome must be the same.
   */
  async function expectCompletedAfterInterruptions(
    options: Parameters<typeof runIdentityJob>[1],
    required: string[],
    points: (statements: string[]) => number[],
  ): Promise<void> {
    const scenario = async (db: TestDatabase, failAt: number, log: string[]): Promise<void> => {
      await loadRows(db.client, first);
      await runIdentityJob(db.client, options);
      await loadRows(db.client, second);
      await runIdentityJob(interruptingClient(db.client, failAt, log), options);
    };
    const reference = await createTestDatabase('identity_uninterrupted');
    const statements: string[] = [];
    let expected: Awaited<ReturnType<typeof outcome>>;
    try {
      await scenario(reference, 0, statements);
      expected = await outcome(reference);
    } finally {
      await reference.drop();
    }
    expect([...new Set(statements)]).toEqual(expect.arrayContaining(required));
    expect(expected.identities.length).toBeGreaterThan(0);
    const interruptAndRecover = async (failAt: number): Promise<void> => {
      const db = await createTestDatabase('identity_interrupted');
      try {
        const kind = statements[failAt - 1];
        await expect(scenario(db, failAt, [])).rejects.toThrow(`interrupted before ${kind}`);
        await runIdentityJob(db.client, options);
        expect({ failAt, kind, ...(await outcome(db)) }).toEqual({ failAt, kind, ...expected });
      } finally {
        await db.drop();
      }
    };
    // Four databases at a time: each scenario is mostly round trips.
    const order = [...new Set(points(statements))].sort((a, b) => a - b);
    for (let i = 0; i < order.length; i += 4) await Promise.all(order.slice(i, i + 4).map(interruptAndRecover));
  }

  /** Right before the first statement of each kind (`which` of them), the last bucket swap, and the last statement. */
  const firstOfEachKind = (which: (kind: string) => boolean) => (statements: string[]) => [
    ...[...new Set(statements)].filter(which).map((kind) => statements.indexOf(kind) + 1),
    statements.lastIndexOf('ALTER TABLE person_events_stored REPLACE') + 1,
    statements.length,
  ];

  it('is completed by the next run, with a squash: the same identities, person_events and person_days as without the interruption', async () => {
    await expectCompletedAfterInterruptions(
      { overlapSeconds, squashAfterNodes: 0 },
      [
        'insert identity_edges', 'insert stale_nodes', 'insert identities', 'insert job_checkpoints',
        'TRUNCATE TABLE person_events_staging', 'INSERT INTO person_events_staging SELECT', 'ALTER TABLE person_days_stored REPLACE',
        'ALTER TABLE person_events_stored REPLACE', 'TRUNCATE TABLE stale_nodes', 'INSERT INTO person_events_stored SELECT',
        'TRUNCATE TABLE identity_run_nodes',
      ],
      firstOfEachKind(() => true),
    );
  }, 300_000);

  it('is completed by the next run when it rewrites buckets only for newer deliveries (no squash)', async () => {
    await expectCompletedAfterInterruptions(
      { overlapSeconds, squashAfterNodes: 1e9 },
      ['INSERT INTO person_events_staging SELECT', 'ALTER TABLE person_days_stored REPLACE', 'ALTER TABLE person_events_stored REPLACE'],
      firstOfEachKind((kind) => !kind.startsWith('insert ')),
    );
  }, 300_000);
});

describe('a message read back from identity_edges', () => {
  // A redelivery that changed an event's nodes and its timestamp leaves edges of one message with two times: the
  // nodes it sent have its time and its received_at, a node only the earlier delivery sent keeps that one's.
  const edges = (messageId: string, redelivered: number): EdgeRow[] => [
    { message_id: messageId, node: 'user:ann', ts: redelivered, received: 2000 },
    { message_id: messageId, node: `email:${sha256('ann@example.com')}`, ts: 150, received: 1000 },
  ];
  const timesOf = (rows: EdgeRow[]) => [toMessages(rows), toMessages([...rows].reverse())].map(([message]) => message?.time);

  it("has its newest delivery's time for an identify (as events FINAL and the run that read it have), the earliest for a context link, whatever order the rows come in", () => {
    expect(timesOf(edges('identify-1', 200))).toEqual([200, 200]);
    // Redelivered with an older timestamp: still the newest delivery's, not the larger one.
    expect(timesOf(edges('identify-1', 100))).toEqual([100, 100]);
    expect(timesOf(edges('context:0123', 200))).toEqual([150, 150]);
    expect(timesOf(edges('context:0123', 100))).toEqual([100, 100]);
  });
});
