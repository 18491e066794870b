// The job lease against ClickHouse, with clocks moved by hand and claimants interleaved on purpose (no sleeps):
// one holder among racing claimants, renewals keep it, an expired holder is taken over and its statements are
// refused, a release frees it at once, a holder's own tick during its slow renewal leaves it the holder, and a
// paused holder's late renewal costs the newcomer its lease.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import type { ClickHouseClient } from './client';
import { createLease, leader, LeaseLostError, whileHeld, type LeaseOptions } from './lease';

const ttlMs = 60_000;
const settleMs = 2_000;
const T0 = Date.UTC(2026, 0, 1);
let db: TestDatabase;
let jobs = 0;

beforeAll(async () => {
  db = await createTestDatabase('lease');
});
afterAll(() => db.drop());

/** A clock tests move by hand. */
function clock(start = T0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms), set: (ms: number) => void (t = ms) };
}

/** A fresh job name per test, so tests share the database without seeing each other's claims. */
const newJob = () => `job_${++jobs}`;

const lease = (job: string, holder: string, now: () => number, extra: Partial<LeaseOptions> = {}, client: ClickHouseClient = db.client) =>
  createLease(client, { job, holder, ttlMs, settleMs, now, wait: () => Promise.resolve(), ...extra });

/** A promise with its resolve function. */
function signal() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * `client`, except that the first call of `method` runs, then waits for `gate` before its caller gets the answer
 * (a read that happened at one moment, seen by its caller later); `reached` resolves when that call has run.
 */
function answeringLate(client: ClickHouseClient, method: 'query', gate: Promise<void>) {
  const reached = signal();
  let held = false;
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop !== method || typeof value !== 'function') return value;
      return async (...args: unknown[]): Promise<unknown> => {
        const answer: unknown = await Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
        if (!held) {
          held = true;
          reached.resolve();
          await gate;
        }
        return answer;
      };
    },
  });
  return { client: proxy, reached: reached.promise };
}

/** `client`, except that after pauseNext() the next call of `method` waits for resume() before it is sent. */
function pausingClient(client: ClickHouseClient, method: 'insert') {
  let pending: { reached: () => void; resumed: Promise<void> } | undefined;
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop !== method || typeof value !== 'function') return value;
      return async (...args: unknown[]): Promise<unknown> => {
        const pause = pending;
        pending = undefined;
        if (pause) {
          pause.reached();
          await pause.resumed;
        }
        return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
      };
    },
  });
  return {
    client: proxy,
    pauseNext() {
      const reached = signal();
      const resumed = signal();
      pending = { reached: reached.resolve, resumed: resumed.promise };
      return { reached: reached.promise, resume: resumed.resolve };
    },
  };
}

const claims = (job: string) =>
  db.rows<{ holder: string; claimed_at: number; valid_until: number }>(
    `SELECT holder, claimed_at, argMax(expires_at, written_at) AS valid_until FROM job_leases WHERE job = '${job}' GROUP BY holder, claimed_at ORDER BY holder`,
  );

describe('the leader rule', () => {
  it('is the earliest claim, then the smallest holder, whatever the order read', () => {
    const a = { holder: 'b', claimedAt: 5, until: 9 };
    const b = { holder: 'a', claimedAt: 5, until: 7 };
    const c = { holder: 'a', claimedAt: 6, until: 99 };
    expect(leader([c, a, b])).toBe(b);
    expect(leader([a, c])).toBe(a);
    expect(leader([])).toBeUndefined();
  });
});

describe('job lease on ClickHouse', () => {
  it('gives a free lease to exactly one of two claimants that write before either reads', async () => {
    for (let round = 0; round < 5; round++) {
      const job = newJob();
      const time = clock();
      // Both claims are written before either claimant reads: each waits for the other's write.
      const written = [signal(), signal()];
      const both = Promise.all(written.map((s) => s.promise)).then(() => undefined);
      const claimant = (i: number) =>
        lease(job, `holder-${i}-${round}`, () => time.now() + i, {
          wait: () => {
            written[i]?.resolve();
            return both;
          },
        });
      const results = await Promise.all([claimant(0).acquire(), claimant(1).acquire()]);
      expect(results.filter((r) => r.held)).toHaveLength(1);
      // The earlier claim wins (holder-0's clock is 1 ms behind), and the loser withdraws its claim.
      expect(results[0]?.held).toBe(true);
      expect((await claims(job)).filter((c) => c.valid_until > 0).map((c) => c.holder)).toEqual([`holder-0-${round}`]);
    }
  });

  it('keeps a late claimant out when it read before the holder claimed and wrote after the holder had read', async () => {
    const job = newJob();
    const time = clock();
    const gate = signal();
    // B reads (no claim yet) and only then gets the answer, after A has claimed, settled and read.
    const late = answeringLate(db.client, 'query', gate.promise);
    const b = lease(job, 'b', time.now, {}, late.client);
    const bAcquire = b.acquire();
    await late.reached;
    const a = lease(job, 'a', time.now);
    expect(await a.acquire()).toEqual({ held: true, until: T0 + ttlMs });
    time.advance(settleMs);
    gate.resolve();
    expect(await bAcquire).toEqual({ held: false, leader: { holder: 'a', claimedAt: T0, until: T0 + ttlMs } });
    expect(b.held()).toBe(false);
    expect((await claims(job)).map((c) => [c.holder, c.valid_until])).toEqual([
      ['a', T0 + ttlMs],
      ['b', 0],
    ]);
  });

  it('stays with a holder that renews: a newcomer is busy, also long after the first claim would have expired', async () => {
    const job = newJob();
    const time = clock();
    const holder = lease(job, 'holder', time.now);
    const newcomer = lease(job, 'newcomer', time.now);
    expect((await holder.acquire()).held).toBe(true);
    for (let i = 0; i < 5; i++) {
      time.advance(ttlMs / 3);
      expect(await holder.renew()).toBe(true);
      expect(await newcomer.acquire()).toMatchObject({ held: false, leader: { holder: 'holder', claimedAt: T0 } });
      expect(holder.held()).toBe(true);
    }
    // Its own tick finds it still held without writing a new claim.
    expect(await holder.acquire()).toEqual({ held: true, until: time.now() + ttlMs });
    expect((await claims(job)).map((c) => c.holder)).toEqual(['holder']);
  });

  it('is taken over once a holder that disappeared has let it expire, and refuses that holder’s statements from then on', async () => {
    const job = newJob();
    const time = clock();
    const gone = lease(job, 'gone', time.now);
    const next = lease(job, 'next', time.now);
    expect((await gone.acquire()).held).toBe(true);
    const goneClient = whileHeld(db.client, gone);
    // It renews no more (a crash). Until the claim expires nobody else may run the job.
    time.set(T0 + ttlMs - 1);
    expect(await next.acquire()).toMatchObject({ held: false, leader: { holder: 'gone' } });
    // Its own clock stops it `settle` before that.
    time.set(T0 + ttlMs - settleMs);
    expect(gone.held()).toBe(false);
    await expect(goneClient.insert({ table: 'job_checkpoints', values: [{ job, position: '2026-01-01 00:00:00', version: 1 }], format: 'JSONEachRow' })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(goneClient.command({ query: 'SELECT 1' })).rejects.toThrow(`lease of warehouse job ${job}`);
    expect(await db.rows(`SELECT job FROM job_checkpoints WHERE job = '${job}'`)).toEqual([]);
    time.set(T0 + ttlMs + 1);
    expect(await next.acquire()).toEqual({ held: true, until: T0 + ttlMs + 1 + ttlMs });
    // Back from the dead, it neither renews nor takes the job back.
    expect(await gone.renew()).toBe(false);
    expect(await gone.acquire()).toMatchObject({ held: false, leader: { holder: 'next' } });
    expect(await whileHeld(db.client, next).query({ query: 'SELECT 1', format: 'JSONEachRow' }).then((r) => r.json())).toEqual([{ 1: 1 }]);
  });

  it('is free at once for another collector when its holder releases it', async () => {
    const job = newJob();
    const time = clock();
    const first = lease(job, 'first', time.now);
    const second = lease(job, 'second', time.now);
    expect((await first.acquire()).held).toBe(true);
    expect((await second.acquire()).held).toBe(false);
    await first.release();
    expect(first.held()).toBe(false);
    expect((await second.acquire()).held).toBe(true);
  });

  it('stays with its holder when the holder’s own tick comes while a renewal sent in time is still on its way', async () => {
    const job = newJob();
    const time = clock();
    const delayed = pausingClient(db.client, 'insert');
    const holder = lease(job, 'holder', time.now, {}, delayed.client);
    const newcomer = lease(job, 'newcomer', time.now);
    expect((await holder.acquire()).held).toBe(true);
    // Earlier renewals failed; this one starts just in time (before `until - settle`), and its write is slow.
    const renewedAt = T0 + ttlMs - settleMs - 1;
    time.set(renewedAt);
    const stuck = delayed.pauseNext();
    const renewal = holder.renew();
    await stuck.reached;
    // Meanwhile the holder's clock passes `until - settle` and the job's tick comes: held() says no.
    time.advance(2);
    expect(holder.held()).toBe(false);
    const tick = holder.acquire();
    stuck.resume();
    // The tick waits for the renewal, which kept the lease: the holder still has it, it did not take itself for another.
    expect(await renewal).toBe(true);
    expect(await tick).toEqual({ held: true, until: renewedAt + ttlMs });
    expect(holder.held()).toBe(true);
    expect(await newcomer.acquire()).toMatchObject({ held: false, leader: { holder: 'holder', claimedAt: T0 } });
    expect((await claims(job)).map((c) => [c.holder, c.valid_until])).toEqual([['holder', renewedAt + ttlMs]]);
  });

  it('costs the newcomer its lease at its next renewal when a paused holder’s renewal lands late (the limit of the protocol)', async () => {
    const job = newJob();
    let holderNow = T0;
    let newcomerNow = T0;
    const delayed = pausingClient(db.client, 'insert');
    const holder = lease(job, 'holder', () => holderNow, {}, delayed.client);
    const newcomer = lease(job, 'newcomer', () => newcomerNow);
    expect((await holder.acquire()).held).toBe(true);
    // The holder sends a renewal while its lease is valid; the request is stuck (a pause) until the lease expired.
    holderNow = T0 + ttlMs / 3;
    const stuck = delayed.pauseNext();
    const renewal = holder.renew();
    await stuck.reached;
    newcomerNow = T0 + ttlMs + 1;
    expect((await newcomer.acquire()).held).toBe(true);
    // It lands: the holder's older claim leads again, and the holder, whose clock saw no gap, carries on.
    stuck.resume();
    expect(await renewal).toBe(true);
    holderNow = T0 + ttlMs + 1;
    expect(await holder.renew()).toBe(true);
    // The two overlap until the newcomer's next renewal, which finds the older claim leading: it stops there.
    newcomerNow += ttlMs / 3;
    expect(await newcomer.renew()).toBe(false);
    expect(newcomer.held()).toBe(false);
    await expect(whileHeld(db.client, newcomer).command({ query: 'SELECT 1' })).rejects.toBeInstanceOf(LeaseLostError);
    expect(holder.held()).toBe(true);
  });
});
