// mappingChanges against ClickHouse: a run that writes only the identifiers whose periods changed still leaves
// identities_current as a from-scratch resolution of the same events has it, when a shared device's periods
// shrink or tie, when an identifier goes back to being its own person, when its current row has a version above
// the run's clock, when the identities insert is cut short, and whichever of its two reads (IN lists, or the whole
// table above 20,000 identifiers) compares the periods.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/clickhouse';
import { eventRow } from '../../../test/support/events';
import { attribution, currentIdentities, fromScratch } from '../../../test/support/identity-state';
import type { ClickHouseClient } from '../client';
import type { EventRow } from '../../ingest/normalize';
import { loadRows } from '../generator/load';
import { runIdentityJob } from './job';
import { mappingChanges } from './mappings';
import type { Period } from './resolve';

const T = Date.UTC(2026, 6, 1, 12);
const minute = 60_000;
const options = { overlapSeconds: 10 * 365 * 86_400, squashAfterNodes: 1e9 };
const identify = (messageId: string, userId: string, anonymousId: string, at: number): EventRow =>
  eventRow({ type: 'identify', messageId, userId, anonymousId }, at);


/** Identities rows written after `before` (the newest version then). */
async function writtenSince(db: TestDatabase, before: number) {
  return db.rows<{ identifier: string }>(`SELECT DISTINCT identifier FROM identities WHERE version > ${before} ORDER BY identifier`);
}
const newestVersion = async (db: TestDatabase) => Number((await db.rows<{ v: number }>('SELECT max(version) AS v FROM identities'))[0]?.v);

describe('a shared device whose periods shrink', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('mappings_shrink');
  });
  afterAll(() => db.drop());

  it('has only its remaining period current once an alias joins its two users, as from scratch', async () => {
    const first = [identify('a-1', 'ann', 'dev-1', T), identify('b-1', 'bob', 'dev-1', T + 10 * minute)];
    await loadRows(db.client, first);
    await runIdentityJob(db.client, options);
    expect((await currentIdentities(db)).filter((r) => r.identifier === 'anon:dev-1').map((r) => r.person_id)).toEqual(['user:ann', 'user:bob']);
    const alias = [eventRow({ type: 'alias', messageId: 'alias-1', userId: 'ann', previousId: 'bob', anonymousId: 'dev-2' }, T + 20 * minute)];
    await loadRows(db.client, alias);
    await runIdentityJob(db.client, options);
    const truth = await fromScratch(options, [...first, ...alias]);
    expect(truth.identities.filter((r) => r.identifier === 'anon:dev-1')).toHaveLength(1);
    expect(await currentIdentities(db)).toEqual(truth.identities);
    // The old version's second period stays in the table after a merge (another valid_from), but is not current.
    await db.client.command({ query: 'OPTIMIZE TABLE identities FINAL' });
    expect(await currentIdentities(db)).toEqual(truth.identities);
  }, 60_000);
});

describe('an identifier that goes back to being its own person', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('mappings_split');
  });
  afterAll(() => db.drop());

  it("gets a row written when the edges that joined it are removed (migration 037's way), as from scratch", async () => {
    const kept = [identify('c-1', 'cat', 'dev-c', T), eventRow({ type: 'page', name: 'Home', messageId: 'c-page', anonymousId: 'dev-c' }, T + minute)];
    const removed = identify('bot-1', 'cat', 'dev-bot', T + 2 * minute);
    const botPage = eventRow({ type: 'page', name: 'Home', messageId: 'bot-page', anonymousId: 'dev-bot' }, T + 3 * minute);
    await loadRows(db.client, [...kept, removed, botPage]);
    await runIdentityJob(db.client, options);
    expect((await currentIdentities(db)).find((r) => r.identifier === 'anon:dev-bot')?.person_id).toBe('user:cat');
    // As migration 037 does: the message's nodes queued for the next run, then its edges gone (and its event).
    await db.client.command({
      query: `INSERT INTO identity_run_nodes (version, node) SELECT (SELECT max(version) FROM job_checkpoints WHERE job = 'identity') + 1 AS run_version, node FROM identity_edges WHERE message_id = 'bot-1'`,
    });
    await db.client.command({ query: 'CREATE TABLE identity_edges_kept AS identity_edges' });
    await db.client.command({ query: "INSERT INTO identity_edges_kept SELECT * FROM identity_edges WHERE message_id != 'bot-1'" });
    await db.client.command({ query: 'TRUNCATE TABLE identity_edges' });
    await db.client.command({ query: 'INSERT INTO identity_edges SELECT * FROM identity_edges_kept' });
    await db.client.command({ query: 'CREATE TABLE events_kept AS events' });
    await db.client.command({ query: "INSERT INTO events_kept SELECT * FROM events WHERE message_id != 'bot-1'" });
    await db.client.command({ query: 'TRUNCATE TABLE events' });
    await db.client.command({ query: 'INSERT INTO events SELECT * FROM events_kept' });
    const before = await newestVersion(db);
    await runIdentityJob(db.client, options);
    expect(await writtenSince(db, before)).toEqual([{ identifier: 'anon:dev-bot' }]);
    // From scratch the device has no row (no identify left): it is its own person either way.
    const truth = await fromScratch(options, [...kept, botPage]);
    expect((await currentIdentities(db)).filter((r) => r.identifier !== 'anon:dev-bot')).toEqual(truth.identities);
    expect((await currentIdentities(db)).find((r) => r.identifier === 'anon:dev-bot')?.person_id).toBe('anon:dev-bot');
    // bot-1 itself stays in person_events_stored here (migration 037 removes it there too).
    expect((await attribution(db)).filter((r) => r.message_id !== 'bot-1')).toEqual(truth.attribution);
  }, 60_000);
});

describe("a shared device's two switches in one second", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('mappings_tie');
  });
  afterAll(() => db.drop());

  // ann, then bob and ann again in one second (message ids order them): from then on the device is ann's.
  const rows = [
    identify('tie-1', 'ann', 'dev-t', T),
    identify('tie-2', 'bob', 'dev-t', T + 10 * minute),
    identify('tie-3', 'ann', 'dev-t', T + 10 * minute + 500),
    eventRow({ type: 'track', event: 'Opened', messageId: 'tie-open', anonymousId: 'dev-t' }, T + 10 * minute + 900),
    eventRow({ type: 'track', event: 'Opened', messageId: 'tie-later', anonymousId: 'dev-t' }, T + 30 * minute),
  ];
  const again = [identify('tie-again', 'ann', 'dev-a2', T + 40 * minute)];

  it('maps the device to ann from that second on, before and after a merge, and a run that changes nothing writes nothing', async () => {
    await loadRows(db.client, rows);
    await runIdentityJob(db.client, options);
    const device = async () => (await currentIdentities(db)).filter((r) => r.identifier === 'anon:dev-t').map((r) => [r.valid_from, r.person_id]);
    // No period of no length (bob's, within that second): its row and ann's would share a key, and whichever a
    // merge kept decided the device's person; before the merge, attribution took bob's.
    const expected = [['0000-00-00 00:00:00', 'user:ann']];
    const opened = async () => (await attribution(db)).filter((r) => ['tie-open', 'tie-later'].includes(r.message_id)).map((r) => r.person_id);
    expect(await device()).toEqual(expected);
    expect(await opened()).toEqual(['user:ann', 'user:ann']);
    await db.client.command({ query: 'OPTIMIZE TABLE identities FINAL' });
    expect(await device()).toEqual(expected);
    const before = await newestVersion(db);
    await loadRows(db.client, again);
    await runIdentityJob(db.client, options);
    expect(await writtenSince(db, before)).toEqual([{ identifier: 'anon:dev-a2' }]);
    expect(await attribution(db)).toEqual((await fromScratch(options, [...rows, ...again])).attribution);
  }, 60_000);
});

describe('an identifier whose current row has a version above the clock of the run that changes it', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('mappings_version');
  });
  afterAll(() => db.drop());

  it("gets the run's periods current all the same (a collector's clock ran ahead when it wrote that row)", async () => {
    const first = [identify('z-1', 'zoe', 'dev-z', T)];
    await loadRows(db.client, first);
    await runIdentityJob(db.client, options);
    // The row a collector whose clock was years ahead wrote, for the same events then seen otherwise.
    const ahead = Date.UTC(2040, 0, 1);
    await db.client.insert({
      table: 'identities',
      format: 'JSONEachRow',
      values: [{ identifier: 'anon:dev-z', valid_from: '1970-01-01 00:00:00', person_id: 'user:yan', mapped_at: '2040-01-01 00:00:00', version: ahead }],
    });
    const later = [identify('z-2', 'zoe', 'dev-z2', T + minute)];
    await loadRows(db.client, later);
    await runIdentityJob(db.client, options);
    expect((await currentIdentities(db)).filter((r) => r.identifier === 'anon:dev-z').map((r) => r.person_id)).toEqual(['user:zoe']);
    expect(await currentIdentities(db)).toEqual((await fromScratch(options, [...first, ...later])).identities);
  }, 60_000);
});

/** A ClickHouse client whose identities insert writes the first half of its rows, then fails (a cut-short insert). */
function halfInsertClient(client: ClickHouseClient): ClickHouseClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop !== 'insert' || typeof value !== 'function') return value;
      return async (params: { table: string; values: object[] }): Promise<unknown> => {
        if (params.table !== 'identities') return Reflect.apply(value, target, [params]);
        await Reflect.apply(value, target, [{ ...params, values: params.values.slice(0, Math.floor(params.values.length / 2)) }]);
        throw new Error('interrupted in insert identities');
      };
    },
  });
}

describe('a run whose identities insert is cut short', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('mappings_partial');
  });
  afterAll(() => db.drop());

  it('is completed by the next run: the identities and person_events of a from-scratch resolution', async () => {
    // Four devices each identified by one user, then each also by a second user: every device gets two periods.
    const first = ['a', 'b', 'c', 'd'].flatMap((d, i) => [
      identify(`p1-${d}`, `u-${d}`, `dev-${d}`, T + i * minute),
      eventRow({ type: 'page', name: 'Home', messageId: `page1-${d}`, anonymousId: `dev-${d}` }, T + i * minute + 1000),
    ]);
    const second = ['a', 'b', 'c', 'd'].flatMap((d, i) => [
      identify(`p2-${d}`, `v-${d}`, `dev-${d}`, T + 30 * minute + i * minute),
      eventRow({ type: 'page', name: 'Home', messageId: `page2-${d}`, anonymousId: `dev-${d}` }, T + 30 * minute + i * minute + 1000),
      eventRow({ type: 'alias', messageId: `al-${d}`, userId: `u-${d}`, previousId: `w-${d}`, anonymousId: `dev-w-${d}` }, T + 50 * minute + i * minute),
    ]);
    await loadRows(db.client, first);
    await runIdentityJob(db.client, options);
    await loadRows(db.client, second);
    await expect(runIdentityJob(halfInsertClient(db.client), options)).rejects.toThrow('interrupted in insert identities');
    await runIdentityJob(db.client, options);
    const truth = await fromScratch(options, [...first, ...second]);
    expect(await currentIdentities(db)).toEqual(truth.identities);
    expect(await attribution(db)).toEqual(truth.attribution);
  }, 60_000);
});

describe('mappingChanges read by IN lists or, above 20,000 identifiers, from the whole table', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('mappings_reads');
    const row = (identifier: string, since: number, person: string, version: number) => ({
      identifier, valid_from: new Date(since * 1000).toISOString().slice(0, 19).replace('T', ' '), person_id: person, mapped_at: '2026-07-01 00:00:00', version,
    });
    await db.client.insert({
      table: 'identities',
      format: 'JSONEachRow',
      values: [
        // Two periods, then three in a later version (the old one's second survives any merge): the newest counts.
        row('anon:shared', 0, 'user:a', 1), row('anon:shared', 100, 'user:b', 1),
        row('anon:shared', 0, 'user:a', 2), row('anon:shared', 50, 'user:c', 2), row('anon:shared', 200, 'user:b', 2),
        // Shrunk to one period in a later version.
        row('anon:shrunk', 0, 'user:a', 1), row('anon:shrunk', 100, 'user:b', 1), row('anon:shrunk', 0, 'user:a', 3),
        row('user:same', 0, 'user:same', 1),
      ],
    });
  });
  afterAll(() => db.drop());

  const resolved: [string, Period[]][] = [
    // The same periods as stored, in another order.
    ['anon:shared', [{ validFrom: 200, personId: 'user:b' }, { validFrom: 0, personId: 'user:a' }, { validFrom: 50, personId: 'user:c' }]],
    // Its old version's periods: a change.
    ['anon:shrunk', [{ validFrom: 0, personId: 'user:a' }, { validFrom: 100, personId: 'user:b' }]],
    ['user:same', [{ validFrom: 0, personId: 'user:same' }]],
    // No row: written, and not moved (its own person).
    ['user:new', [{ validFrom: 0, personId: 'user:new' }]],
  ];
  const filler = Array.from({ length: 20_001 }, (_, i): [string, Period[]] => [`user:filler-${i}`, [{ validFrom: 0, personId: `user:filler-${i}` }]]);
  const summary = async (map: Map<string, Period[]>) => {
    const changes = await mappingChanges(db.client, map);
    const mine = new Set(resolved.map(([id]) => id));
    return { write: [...changes.write.keys()].filter((id) => mine.has(id)).sort(), moved: changes.moved.filter((id) => mine.has(id)).sort() };
  };

  it('gives the same changes either way', async () => {
    const expected = { write: ['anon:shrunk', 'user:new'], moved: ['anon:shrunk'] };
    expect(await summary(new Map(resolved))).toEqual(expected);
    expect(await summary(new Map([...resolved, ...filler]))).toEqual(expected);
  }, 60_000);
});
