// An erasure whose DELETE of `events` outlasts the wait (a big table; here a mutation that fails for ever holds every
// later one of the table back, as 18.16 cannot kill one): the erasure stays running, and the attempts that follow,
// one after each identity run, wait for that DELETE instead of queueing one more rewrite of the table each.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { str } from '../query/literal';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { eventRow } from '../../test/support/events';
import { processErasures, readErasure, requestErasure } from './erasure';
import { loadRows } from './generator/load';
import { runIdentityJob } from './identity/job';

const T = Date.UTC(2026, 5, 15, 12);
const resolve = () => runIdentityJob(db.client, { overlapSeconds: 10 * 365 * 86_400 });

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('erasure_mutations');
}, 60_000);
afterAll(() => db.drop());

describe('an erasure whose DELETE of events is not done in time', () => {
  it('stays running, and the next attempts issue no second DELETE of events while the first is under way', async () => {
    await loadRows(db.client, [
      eventRow({ type: 'identify', messageId: 'ann-identify', userId: 'ann', anonymousId: 'ann-laptop' }, T),
      eventRow({ type: 'page', name: 'Home', messageId: 'ann-page', anonymousId: 'ann-laptop' }, T + 60_000),
    ]);
    await resolve();
    await db.client.command({ query: 'ALTER TABLE events DELETE WHERE throwIf(length(message_id) >= 0) = 1' });
    const { id } = await requestErasure(db.client, { kind: 'userId', value: 'ann' });
    for (let attempt = 1; attempt <= 3; attempt++) {
      // As the identity job's runner: an identity run, then the erasures.
      await resolve();
      await expect(processErasures(db.client, { timeoutMs: 300, pollMs: 50 })).rejects.toThrow(/not done after 300 ms/);
    }
    expect(await readErasure(db.client, id)).toMatchObject({ status: 'running' });
    const issued = await db.rows<{ n: number }>(
      `SELECT count() AS n FROM system.mutations WHERE database = currentDatabase() AND table = 'events' AND position(command, ${str(id)}) > 0`,
    );
    expect(issued.map((row) => Number(row.n))).toEqual([1]);
  }, 60_000);
});
