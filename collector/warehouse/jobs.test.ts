// Several collectors' job schedulers on one database (as behind a load balancer): a job runs on one of them at a
// time, passes to another when its holder stops or dies, and two collectors started together no longer store
// events twice (person_events_stored, and with it sessions, paths, surveys and refunds) nor refresh every
// segment twice. They give their jobs up to a collector that migrates and take them again after, and a scheduler
// stopped while taking a lease leaves nothing running. Waits are for conditions, never for time.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, waitUntil, type TestDatabase } from '../../test/support/clickhouse';
import type { WarehouseJobsConfig } from '../config';
import type { ClickHouseClient } from './client';
import { generateDataset } from './generator/generate';
import { deliveriesToRows, loadRows } from './generator/load';
import { runIdentityJob } from './identity/job';
import { startWarehouseJobs, type JobLogger, type WarehouseJobs, type WarehouseJobsOptions } from './jobs';

const settleMs = 100;
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('jobs');
});
afterAll(() => db.drop());

/** A logger that keeps what it is told, per scheduler. */
function recorder() {
  const errors: string[] = [];
  const skipped: string[] = [];
  const told: string[] = [];
  const log: JobLogger = {
    error: (object, message) => errors.push(`${message} ${String((object as { err?: unknown }).err ?? '')}`),
    debug: (object, message) => skipped.push(message),
    info: (object, message) => told.push(message),
  };
  return { log, errors, skipped, told };
}

/** A promise with its resolve function. */
function signal() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A claim row in job_leases, as another collector would write it; written_at is always newer than the last row's. */
let lastWritten = 0;
async function writeClaim(target: TestDatabase, job: string, holder: string, claimedAt: number, expiresAt: number): Promise<number> {
  lastWritten = Math.max(Date.now(), lastWritten + 1);
  await target.client.insert({ table: 'job_leases', values: [{ job, holder, claimed_at: claimedAt, expires_at: expiresAt, written_at: lastWritten }], format: 'JSONEachRow' });
  return lastWritten;
}

/** The claims of `job` still valid now. */
const validClaims = (target: TestDatabase, job: string) =>
  target.rows<{ holder: string }>(
    `SELECT holder, argMax(expires_at, written_at) AS until FROM job_leases WHERE job = '${job}' GROUP BY holder, claimed_at HAVING until > ${Date.now()} ORDER BY holder`,
  );

const jobsConfig = (config: Partial<WarehouseJobsConfig>): WarehouseJobsConfig => ({
  identityIntervalSeconds: 0,
  segmentIntervalSeconds: 0,
  identityOverlapSeconds: 86_400,
  ...config,
});

function start(target: TestDatabase, config: Partial<WarehouseJobsConfig>, holder: string, log: JobLogger, options: WarehouseJobsOptions = {}): WarehouseJobs {
  return startWarehouseJobs({ url: target.url, database: target.database }, jobsConfig(config), log, { holder, settleMs, ...options });
}

describe('warehouse jobs on several collectors', () => {
  it('never run a job on two collectors at once, and pass it on when its holder stops', async () => {
    const runs: string[] = [];
    let active = 0;
    let mostActive = 0;
    const logs = { a: recorder(), b: recorder() };
    const stopped = new Set<'a' | 'b'>();
    /** A run that lasts until the other collector has tried to run the job meanwhile (or runs it alongside, or is stopped). */
    const runner = (me: 'a' | 'b', other: 'a' | 'b') => async (): Promise<void> => {
      runs.push(me);
      active += 1;
      mostActive = Math.max(mostActive, active);
      const skippedBefore = logs[other].skipped.length;
      try {
        await waitUntil(
          async () => ({ skipped: logs[other].skipped.length, active, gone: stopped.has(other) }),
          (now) => now.skipped > skippedBefore || now.active > 1 || now.gone,
        );
      } finally {
        active -= 1;
      }
    };
    const config = { identityIntervalSeconds: 0.05, leaseSeconds: 3 };
    const a = start(db, config, 'collector-a', logs.a.log, { runners: { identity: runner('a', 'b') } });
    const b = start(db, config, 'collector-b', logs.b.log, { runners: { identity: runner('b', 'a') } });
    try {
      await waitUntil(async () => runs.length, (n) => n >= 4);
      expect(mostActive).toBe(1);
      const holder = runs[0] as 'a' | 'b';
      expect(new Set(runs)).toEqual(new Set([holder])); // the holder keeps the job between runs
      await (holder === 'a' ? a : b).stop();
      stopped.add(holder);
      const ranBefore = runs.length;
      await waitUntil(async () => runs.slice(ranBefore), (later) => later.length >= 2);
      expect(runs.slice(ranBefore)).not.toContain(holder);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    expect(mostActive).toBe(1);
    expect([...logs.a.errors, ...logs.b.errors]).toEqual([]);
    // An interval of 0 keeps a collector out of that job: neither claimed the segment refresh (the migrator that
    // created the database did, to migrate it).
    expect(await db.rows("SELECT holder FROM job_leases WHERE job = 'segments' AND holder LIKE 'collector-%'")).toEqual([]);
  });

  it('take a job over from a collector that died once its lease has expired', async () => {
    // A claim written by a collector that then died: never renewed, never released. It lasts until the
    // newcomer has said it waits for it; then it expires (a row with expires_at = now, as time would do).
    const claimedAt = Date.now() - 1000;
    await writeClaim(db, 'segments', 'crashed', claimedAt, Date.now() + 3_600_000);
    const starts: number[] = [];
    const log = recorder();
    const next = start(db, { segmentIntervalSeconds: 0.05, leaseSeconds: 3 }, 'collector-next', log.log, {
      runners: { segments: () => Promise.resolve(void starts.push(Date.now())) },
    });
    let expiredAt = 0;
    try {
      await waitUntil(async () => log.skipped.length, (n) => n > 0);
      expect(starts).toEqual([]);
      expiredAt = Date.now();
      await writeClaim(db, 'segments', 'crashed', claimedAt, expiredAt);
      await waitUntil(async () => starts.length, (n) => n >= 1);
    } finally {
      if (expiredAt === 0) await writeClaim(db, 'segments', 'crashed', claimedAt, 0); // so that a failure here does not hold later tests off
      await next.stop();
    }
    expect(starts[0]).toBeGreaterThanOrEqual(expiredAt);
    expect(log.errors).toEqual([]);
  });

  it('give their jobs up while a collector migrates, the holder between two runs too, and take them again after', async () => {
    const runs = { identity: 0, segments: 0 };
    const log = recorder();
    // The segment refresh runs once (its next tick is in an hour): its holder keeps the lease by renewing it.
    const jobs = start(db, { identityIntervalSeconds: 0.05, segmentIntervalSeconds: 3600, leaseSeconds: 3 }, 'collector-jobs', log.log, {
      runners: { identity: () => Promise.resolve(void runs.identity++), segments: () => Promise.resolve(void runs.segments++) },
    });
    const claimedAt = Date.now();
    try {
      await waitUntil(async () => ({ ...runs }), (now) => now.identity > 0 && now.segments > 0);
      expect((await validClaims(db, 'segments')).map((c) => c.holder)).toEqual(['collector-jobs']);
      // Another collector takes the migrations lease (as migrate.ts does at its start).
      await writeClaim(db, 'migrations', 'collector-migrating', claimedAt, Date.now() + 3_600_000);
      // Both leases are given up: the identity job's at its next tick, the segment refresh's at its next renewal.
      await waitUntil(async () => [...(await validClaims(db, 'identity')), ...(await validClaims(db, 'segments'))], (left) => left.length === 0);
      expect(log.told).toEqual(expect.arrayContaining([expect.stringMatching(/identity.*collector-migrating/), expect.stringMatching(/segments.*collector-migrating/)]));
      // And not taken again while the claim is valid: ticks come and skip, no run starts.
      const ran = runs.identity;
      const skipped = log.skipped.length;
      await waitUntil(async () => log.skipped.length, (n) => n >= skipped + 3);
      expect(runs.identity).toBe(ran);
      expect(await validClaims(db, 'identity')).toEqual([]);
      // Released: the next tick takes the job again.
      await writeClaim(db, 'migrations', 'collector-migrating', claimedAt, 0);
      await waitUntil(async () => runs.identity, (n) => n > ran);
    } finally {
      await writeClaim(db, 'migrations', 'collector-migrating', claimedAt, 0); // so that a failure here does not hold later tests off
      await jobs.stop();
    }
    expect(log.errors).toEqual([]);
  });

  it('leave no lease renewal behind when stopped while taking a lease', async () => {
    // Only the intervals are faked: renewals use them, ticks and the lease's settle delay use real timeouts.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const reached = signal();
      const resume = signal();
      let paused = false;
      // The first claim written (the tick taking the segments lease) waits until stop() has begun.
      const wrapClient = (client: ClickHouseClient): ClickHouseClient =>
        new Proxy(client, {
          get(target, prop, receiver) {
            const value: unknown = Reflect.get(target, prop, receiver);
            if (prop !== 'insert' || typeof value !== 'function') return value;
            return async (...args: unknown[]): Promise<unknown> => {
              if (!paused) {
                paused = true;
                reached.resolve();
                await resume.promise;
              }
              return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
            };
          },
        });
      const log = recorder();
      const jobs = start(db, { segmentIntervalSeconds: 3600, leaseSeconds: 3 }, 'collector-stopping', log.log, { wrapClient, runners: { segments: () => Promise.resolve() } });
      await reached.promise;
      const stopping = jobs.stop();
      resume.resolve();
      await stopping;
      expect(vi.getTimerCount()).toBe(0);
      expect(await validClaims(db, 'segments')).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('two collectors started together on data to process', () => {
  const rows = deliveriesToRows(generateDataset({ seed: 11, people: 200 }).deliveries);
  let reference: TestDatabase;
  let shared: TestDatabase;

  beforeAll(async () => {
    [reference, shared] = await Promise.all([createTestDatabase('jobs_reference'), createTestDatabase('jobs_shared')]);
    await Promise.all([loadRows(reference.client, rows), loadRows(shared.client, rows)]);
    await runIdentityJob(reference.client);
  }, 60_000);
  afterAll(async () => {
    await reference.drop();
    await shared.drop();
  });

  /** Starts two collectors' schedulers with `config` (one tick each), waits for `done`, stops both (which waits for their runs). */
  async function runTogether(config: Partial<WarehouseJobsConfig>, done: () => Promise<boolean>): Promise<string[]> {
    const logs = [recorder(), recorder()];
    const schedulers = logs.map((log, i) => start(shared, config, `collector-${i}`, log.log));
    try {
      await waitUntil(done, (finished) => finished, 60_000);
    } finally {
      await Promise.all(schedulers.map((s) => s.stop()));
    }
    return logs.flatMap((log) => log.errors);
  }

  it('store every event once and give the same sessions, paths, surveys, orders and refunds as one collector', async () => {
    const errors = await runTogether({ identityIntervalSeconds: 3600 }, async () => (await shared.rows("SELECT job FROM job_checkpoints WHERE job = 'person_events'")).length > 0);
    expect(errors).toEqual([]);
    const keys = (target: TestDatabase) => target.rows<{ stored: number; keys: number }>('SELECT count() AS stored, uniqExact(source, message_id, original_day) AS keys FROM person_events_stored');
    expect(await keys(shared)).toEqual(await keys(reference));
    const [count] = await keys(shared);
    expect(count?.stored).toBe(count?.keys);
    for (const query of [
      'SELECT person_key, day, sum(events) AS n FROM person_days GROUP BY person_key, day ORDER BY person_key, day',
      'SELECT session_id, events, duration_seconds FROM sessions ORDER BY session_id',
      'SELECT path, sessions FROM paths_to_conversion ORDER BY path',
      'SELECT month, nps_responses, csat_responses, ces_responses FROM cx_monthly ORDER BY month',
      'SELECT person_id, orders, gross_revenue, refunded, net_revenue FROM person_order_totals ORDER BY person_id',
      'SELECT customers, total_orders, gross, refunds, net FROM value_metrics',
    ]) {
      expect({ query, rows: await shared.rows(query) }).toEqual({ query, rows: await reference.rows(query) });
    }
  });

  it('refresh each segment once per tick among them, each member once', async () => {
    const segments = async () => (await shared.rows<{ n: number }>('SELECT uniqExact(segment_id) AS n FROM segment_runs'))[0]?.n ?? 0;
    const errors = await runTogether({ segmentIntervalSeconds: 3600 }, async () => (await segments()) >= 5);
    expect(errors).toEqual([]);
    expect(await shared.rows('SELECT segment_id, count() AS runs FROM segment_runs GROUP BY segment_id HAVING runs > 1')).toEqual([]);
    expect(await shared.rows('SELECT segment_id, person_id, count() AS n FROM segment_members_current GROUP BY segment_id, person_id HAVING n > 1 LIMIT 5')).toEqual([]);
  });
});
