// A lease in ClickHouse, so that each warehouse job (identity, segments) runs on one collector at a time among
// all collectors sharing a database, one of them applies the migrations at start while the others wait
// (exclusively(), below; migrate.ts), and no job runs while it migrates (see "Migrations exclude the jobs").
// No transactions, no Keeper: a small table of claims (job_leases,
// migrations/038_job_leases.sql, which the migrations runner creates before taking its lease) and a
// deterministic rule every reader applies alike. Works on 18.16 and 23.x+.
//
// Rows and the rule
//   A claim is (job, holder, claimed_at); the newest row of a claim (by written_at) gives its expires_at (0 once
//   released). A claim is valid at time t while expires_at > t. Of the valid claims, the one with the earliest
//   claimed_at (then the smallest holder) is the lease's holder: the leader. Renewals keep their claim's
//   claimed_at, so a holder that keeps renewing stays ahead of every later claimant.
//
// Acquire (the scheduler's tick; a holder that still holds by its own clock just says so; it first waits for a
// renewal of its own in flight, see Races)
//   1. read the valid claims: if there is a leader, someone holds it: busy, nothing written;
//   2. write a claim: claimed_at = now, expires_at = now + ttl;
//   3. wait `settle`;
//   4. read the valid claims again: the lease is ours if the leader is our claim (and it is not about to expire
//      by our clock); otherwise withdraw our claim (expires_at 0) and report busy.
// Renew (every ttl/3 while held, also between runs: a holder keeps the job until it stops or dies)
//   only while our clock says the lease is held (now < expires_at - settle): write a row with expires_at = now +
//   ttl, then read again; if another claim leads (a holder we took for gone came back), the lease is lost.
//   keepRenewing() is that loop, for the jobs (jobs.ts) and exclusively() alike.
// Release (a collector that stops): a row with expires_at 0, so another collector takes the job at its next tick.
//
// Races, and why they are safe (assumptions below)
//   * Two claimants at once, no holder: both wrote before either read → both see both claims and pick the
//     same leader. If B's claim was not yet visible to A's read, B wrote it after A read, so B claimed at least
//     `settle` after A did (A waited that long between its claim and its read; B stamps its claim right before
//     writing it; up to A1 and A3); B's read sees A's claim, which is earlier, and B backs off. The settle delay
//     turns "not visible yet" into "later by the rule".
//   * A newcomer while a holder renews: the holder's claim is valid and earliest; the newcomer is busy at step 1,
//     or loses at step 4 if its first read came just before the holder's very first claim was written.
//   * A holder that crashes: its claim expires after ttl (without renewal) and the next claimant's tick takes it
//     over, so a dead collector does not block a job for longer than the lease (plus one tick of the others).
//   * A holder whose renewals fail (ClickHouse unreachable from it): by its own clock it stops holding `settle`
//     before the expiry others will see; whileHeld() makes every statement of its running job fail from then on,
//     so it stops between two statements, before anyone else may start.
//   * A holder's own tick while a renewal of its own is in flight (sent in time, slow to land, after earlier
//     renewals failed): by then held() may say no, and the tick would read the claim that renewal is extending
//     and take it for another collector's; the renewal, finding the lease reset, would leave its claim
//     extended for nobody, and every collector would skip the job for a whole lease. So acquire() waits for
//     the renewal and goes by its outcome, and a renewal that finds its claim no longer ours withdraws it.
//   * A release or withdrawal that fails to be written: the claim simply expires.
//
// Migrations exclude the jobs
//   Migrations 036 and 037 rewrite what the jobs write: the staging tables, which the identity job's bucket
//   rewrite fills, swaps in and truncates, and identity_run_nodes, which a completed identity run empties. A job
//   run during them can swap an emptied staging bucket in (stored person rows lost) or wipe the nodes 037 queued.
//   So the migrator, once it holds `migrations` and finds a migration pending, takes the jobs' leases itself
//   (identity, then segments, as any claimant: acquire above), holds them until it is done, and sends every
//   statement through whileHeld() for all three (migrate.ts). A job run and a migration then exclude each other
//   by this very protocol, with its races and limits and no other: a job runs only while its collector holds
//   the job's lease, a migration only while the migrator does, and two claimants never both hold it. No
//   reasoning about the order of separate checks is involved, so no such order can leave a window in which a
//   run starts after the migrator found the jobs free: finding them free and holding them are one step.
//   What the jobs add (jobs.ts) is that the migrator gets the leases at all, as a holder keeps its job lease
//   between runs for as long as it lives:
//     * a tick reads the `migrations` claims first: if one is valid, it gives its job lease up (if it holds it)
//       and skips, so it neither keeps nor claims the lease against a migrator;
//     * after taking (or keeping) its lease it reads them again before the run, for a migrator that came during
//       its settle wait. A migrator that comes later finds the lease held and waits for the run to end;
//     * the renewal loop reads them after each renewal while no tick is under way: a holder between runs gives
//       its lease up within a third of it. A run under way is never cut short for a migrator; the migrator
//       waits for its end, after which the holder's renewal or next tick gives the lease up.
//   The migrator bounds that wait (migrate.ts, 10 minutes by default), logs whom it waits for, and then stops
//   with an error naming the holder: collectors of versions before this one keep their job leases for good
//   (they still cannot run a job while the migrator holds its lease). Collectors from before the lease take no
//   lease at all and cannot be excluded: they must be stopped, or have both job intervals at 0, before the first
//   upgraded collector starts (docs/collector.md). Re-creating the views with nothing pending takes only
//   `migrations`: a holder that looks meanwhile gives its job up all the same, and the next tick of any
//   collector after the release takes it again.
//
// Assumptions
//   A1. Collectors' clocks agree to well within `settle` (NTP): claims written by different hosts are compared.
//   A2. A write that returned is seen by every later read: true for this plain table on one ClickHouse server
//       (synchronous inserts). Not true behind a load balancer over replicas that lag, nor with
//       `async_insert=1, wait_for_async_insert=0` in the collector's ClickHouse profile: do not do that.
//   A3. A process does not stall for longer than `settle` between reading its clock and its statement reaching
//       ClickHouse (a GC pause, a suspended VM, a request stuck in a network).
//
// What it does not guarantee, and what limits the damage then
//   * A3 broken: a holder paused past its expiry (after whileHeld() let a statement through, or with a renewal
//     in flight) may run on while another collector has taken the job over. A statement already sent completes
//     on the server whatever happens to the lease: with renewals failing meanwhile, a long INSERT … SELECT may
//     finish after the expiry. A late renewal makes the old claim lead again: the newcomer sees that at its next
//     renewal (at most ttl/3 later) and stops at its next statement. Until then two runs overlap, which is what
//     this lease otherwise prevents (jobs.test.ts shows what overlapping runs did before it): the identity job
//     may store some events twice in person_events_stored (undone at the next rewrite of their bucket) or, when
//     two bucket rewrites interleave, drop a bucket's stored rows (a run with identityOverlapSeconds widened over
//     their time appends them again); two segment refreshes only do the same work twice (each run's rows carry
//     its own run_token, migration 039, so even two that pick the same run number store each member once). Two
//     migrators may both apply the pending migration (036 and 037 can then lose stored rows in the buckets whose
//     swaps interleave), and a migration may overlap a job run in the same way. What limits it: the overlap
//     lasts at most one renewal interval, and the identity job's checkpoints and run versions (job_checkpoints,
//     identity_run_nodes) make a run stopped between two statements complete at the next run.
//   * It is not a fence: ClickHouse cannot refuse a write from a holder that lost its lease.
//
// Cost: a standby's tick reads the job's few claim rows and the migrations lease's; a holder writes and reads one
// row per renewal and reads the migrations lease's rows after it and before each run; taking a lease waits
// `settle` once (a migrator with migrations pending: three times). ReplacingMergeTree keeps one row per claim (a
// few per collector start).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { queryRows, type ClickHouseClient } from './client';
import { int, str } from '../query/literal';

/** A claim as read back: who claimed, when (their clock, ms), and until when it holds. */
export interface LeaseClaim {
  holder: string;
  claimedAt: number;
  until: number;
}

/** What acquire found: the lease is ours until `until`, or another claim leads (or none does, after a lost contest). */
export type LeaseState = { held: true; until: number } | { held: false; leader: LeaseClaim | undefined };

export interface LeaseOptions {
  /** The job the lease is for: one lease per job name and database. */
  job: string;
  /** Who claims: unique per scheduler (jobs.ts uses host, pid and a random part, so people can read it too). */
  holder: string;
  /** How long a claim lasts without a renewal (ms). */
  ttlMs: number;
  /** Between writing a claim and reading who leads; also the margin by which a holder stops early (ms, default 2000). */
  settleMs?: number;
  /** The clock (epoch ms); tests move it by hand. */
  now?: () => number;
  /** The settle wait; tests replace it to interleave claimants without sleeping. */
  wait?: (ms: number) => Promise<void>;
}

export interface JobLease {
  readonly job: string;
  readonly holder: string;
  /** How long a claim lasts without a renewal (ms): a holder renews every third of it. */
  readonly ttlMs: number;
  /** Ours already (by our clock), or claimed now if no valid claim leads. */
  acquire(): Promise<LeaseState>;
  /** Extends a held lease; false once it is lost (and from then on until the next successful acquire). */
  renew(): Promise<boolean>;
  /** Whether we hold it by our own clock, with the settle margin: the test before each statement of a job. */
  held(): boolean;
  /** Gives it up, so another collector takes it at its next tick. */
  release(): Promise<void>;
}

/** A job statement refused because its collector no longer holds the job's lease. */
export class LeaseLostError extends Error {
  readonly code = 'LEASE_LOST';
  constructor(readonly job: string) {
    super(`this collector no longer holds the lease of warehouse job ${job}; it stops before its next statement`);
  }
}

/** The lease the migrations run under (migrate.ts). */
export const migrationsLease = 'migrations';

/** The warehouse jobs' leases (jobs.ts). A migrator takes them too, after `migrations`, so no job runs while it migrates. */
export const warehouseJobNames = ['identity', 'segments'] as const;
export type WarehouseJobName = (typeof warehouseJobNames)[number];

export const defaultSettleMs = 2000;

/** A holder name for a new claimant: unique (host, pid and a random part), and readable by people in job_leases. */
export function newHolderName(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** The leader of `claims` (all valid): the earliest claimed_at, then the smallest holder; undefined if none. */
export function leader(claims: readonly LeaseClaim[]): LeaseClaim | undefined {
  let first: LeaseClaim | undefined;
  for (const claim of claims) {
    if (!first || claim.claimedAt < first.claimedAt || (claim.claimedAt === first.claimedAt && claim.holder < first.holder)) first = claim;
  }
  return first;
}

/**
 * The leader of `job`'s lease among the claims valid at `at` (epoch ms), or undefined if none is valid: a
 * claimant in the middle of taking it counts too. Aliases never reuse a column name (18.16).
 */
export async function readLeader(client: ClickHouseClient, job: string, at: number): Promise<LeaseClaim | undefined> {
  const rows = await queryRows<{ holder: string; claimed_at: number; valid_until: number }>(
    client,
    `SELECT holder, claimed_at, argMax(expires_at, written_at) AS valid_until
     FROM job_leases WHERE job = ${str(job)}
     GROUP BY holder, claimed_at
     HAVING valid_until > ${int(at)}`,
  );
  return leader(rows.map((r) => ({ holder: r.holder, claimedAt: Number(r.claimed_at), until: Number(r.valid_until) })));
}

export function createLease(client: ClickHouseClient, options: LeaseOptions): JobLease {
  const { job, holder, ttlMs } = options;
  const settleMs = options.settleMs ?? defaultSettleMs;
  const now = options.now ?? Date.now;
  const wait = options.wait ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  // The renewal interval is ttl/3 and the holder stops `settle` early: a shorter lease leaves no room for renewals.
  if (!(ttlMs >= 5 * settleMs)) throw new RangeError(`lease of ${job}: ttlMs (${ttlMs}) must be at least 5 × settleMs (${settleMs})`);

  /** Our claim while we hold the lease. */
  let mine: { claimedAt: number; until: number } | undefined;
  /** written_at of our last row: strictly increasing, so that our newest row is the one readers take. */
  let lastWritten = 0;
  /**
   * A renewal in flight: acquire() waits for it. Otherwise a tick coming while a renewal sent in time is still on
   * its way (held() false by then) would read the claim that renewal is extending and take it for another's, and
   * the renewal, finding `mine` reset, would leave it extended for nobody: every collector skipping the job for
   * a whole lease.
   */
  let renewing: Promise<unknown> | undefined;

  const isOurs = (claim: LeaseClaim | undefined, claimedAt: number): boolean => claim?.holder === holder && claim.claimedAt === claimedAt;

  async function write(claimedAt: number, expiresAt: number): Promise<void> {
    lastWritten = Math.max(now(), lastWritten + 1);
    await client.insert({
      table: 'job_leases',
      values: [{ job, holder, claimed_at: claimedAt, expires_at: expiresAt, written_at: lastWritten }],
      format: 'JSONEachRow',
    });
  }

  const leaderAt = (at: number): Promise<LeaseClaim | undefined> => readLeader(client, job, at);

  /** Withdraws a claim we do not hold (best effort: if the write fails, the claim expires by itself). */
  async function withdraw(claimedAt: number): Promise<void> {
    await write(claimedAt, 0).catch(() => undefined);
  }

  async function renewOnce(): Promise<boolean> {
    const claim = mine;
    if (!claim) return false;
    const renewedAt = now();
    if (renewedAt >= claim.until - settleMs) {
      // Others may take it from now on: never extend a claim that may have lapsed in their eyes.
      mine = undefined;
      await withdraw(claim.claimedAt);
      return false;
    }
    await write(claim.claimedAt, renewedAt + ttlMs);
    const current = await leaderAt(now());
    if (mine !== claim) {
      // Released meanwhile (a release's row is stamped after ours, so it already wins). Withdrawn once more all
      // the same: a claim we no longer hold must never stay extended for nobody, whatever reset `mine`.
      if (mine?.claimedAt !== claim.claimedAt) await withdraw(claim.claimedAt);
      return false;
    }
    if (current === undefined || !isOurs(current, claim.claimedAt)) {
      mine = undefined;
      await withdraw(claim.claimedAt);
      return false;
    }
    claim.until = current.until;
    return true;
  }

  const lease: JobLease = {
    job,
    holder,
    ttlMs,

    held: () => mine !== undefined && now() < mine.until - settleMs,

    async acquire() {
      while (renewing) await renewing.catch(() => undefined);
      if (mine && lease.held()) return { held: true, until: mine.until };
      mine = undefined;
      const before = await leaderAt(now());
      if (before) return { held: false, leader: before };
      // Stamped right before the write: the rule compares stamps where the protocol needs write order.
      const claimedAt = now();
      await write(claimedAt, claimedAt + ttlMs);
      await wait(settleMs);
      const readAt = now();
      const after = await leaderAt(readAt);
      if (after && isOurs(after, claimedAt) && readAt < after.until - settleMs) {
        mine = { claimedAt, until: after.until };
        return { held: true, until: after.until };
      }
      await withdraw(claimedAt);
      return { held: false, leader: isOurs(after, claimedAt) ? undefined : after };
    },

    renew() {
      const renewal = renewOnce();
      renewing = renewal;
      const done = (): void => {
        if (renewing === renewal) renewing = undefined;
      };
      renewal.then(done, done);
      return renewal;
    },

    async release() {
      const claim = mine;
      mine = undefined;
      if (claim) await write(claim.claimedAt, 0);
    },
  };
  return lease;
}

/**
 * `client` for a job that runs under `lease`: every statement first checks that the lease is still held by our
 * clock, and fails with LeaseLostError otherwise, so a job whose lease ran out stops between two statements.
 */
export function whileHeld(client: ClickHouseClient, lease: Pick<JobLease, 'job' | 'held'>): ClickHouseClient {
  const statements = new Set<PropertyKey>(['query', 'insert', 'command', 'exec']);
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (!statements.has(prop) || typeof value !== 'function') return value;
      return (...args: unknown[]): unknown =>
        lease.held() ? Reflect.apply(value as (...a: unknown[]) => unknown, target, args) : Promise.reject(new LeaseLostError(lease.job));
    },
  });
}

export interface RenewalOptions {
  /** A renewal found the lease lost (the renewals stop there): from then on statements sent through whileHeld() fail. */
  onLost?: () => void;
  /** A renewal failed (tried again at the next interval; the lease expires by itself if none succeeds). */
  onError?: (error: unknown) => void;
  /**
   * After each renewal that kept the lease, as part of it (the next waits): false stops the renewals, for a
   * holder that gives the lease up there (jobs.ts, for a collector that migrates). Must not call stop().
   */
  afterRenewal?: () => Promise<boolean>;
}

export interface Renewals {
  /** False once the renewals stopped: lost, given up, or stop(). */
  readonly active: boolean;
  /** Stops renewing; resolves once a renewal in flight has landed, so that a release can only come after it. */
  stop(): Promise<void>;
}

/**
 * Renews `lease` every third of its length until it is lost or stop() is called: the holders' loop (the jobs'
 * between and during runs, exclusively()'s while its work runs). A renewal still in flight when the next is due
 * is not doubled: that one is skipped.
 */
export function keepRenewing(lease: JobLease, options: RenewalOptions = {}): Renewals {
  let active = true;
  let inFlight: Promise<void> | undefined;
  const end = (): void => {
    active = false;
    clearInterval(timer);
  };
  const renewOnce = async (): Promise<void> => {
    const kept = await lease.renew();
    if (!active) return;
    if (!kept) {
      end();
      options.onLost?.();
      return;
    }
    if (options.afterRenewal && !(await options.afterRenewal())) end();
  };
  const timer = setInterval(() => {
    if (inFlight || !active) return;
    inFlight = renewOnce()
      .catch((error: unknown) => options.onError?.(error))
      .finally(() => (inFlight = undefined));
  }, lease.ttlMs / 3);
  timer.unref();
  return {
    get active() {
      return active;
    },
    async stop() {
      end();
      await inFlight;
    },
  };
}

/** Given up waiting for a lease that another claim kept holding (exclusively() with a deadline). */
export class LeaseWaitTimeout extends Error {
  readonly code = 'LEASE_WAIT_TIMEOUT';
  constructor(
    readonly job: string,
    readonly leader: LeaseClaim | undefined,
  ) {
    super(`gave up waiting for the lease of ${job}${leader ? `, held by ${leader.holder} until ${new Date(leader.until).toISOString()} unless it renews it` : ''}`);
  }
}

export interface ExclusiveOptions {
  /** Between two looks at a lease another collector holds (ms): waiting costs one small read per look. */
  pollMs: number;
  /** Told once per claim waited for: who holds the lease, and until when unless it renews. */
  onWait?: (leader: LeaseClaim) => void;
  /** A renewal or the release failed; the lease expires by itself if no later renewal succeeds. */
  onError?: (error: unknown, step: 'renew' | 'release') => void;
  /** A renewal found the lease lost: from then on the statements of `work` sent through whileHeld() fail. */
  onLost?: () => void;
  /** The wait between two looks; tests may replace it. */
  wait?: (ms: number) => Promise<void>;
  /** Stop waiting at this time (epoch ms, Date.now()): throws LeaseWaitTimeout naming the claim waited for. */
  deadline?: number;
}

/**
 * Runs `work` while this collector holds `lease`, for one-off work that every collector would otherwise do at
 * once (the migrations at start), or that no job may overlap (the jobs' leases, taken by the migrator): waits
 * while another collector holds it (a look every pollMs, until its holder releases it or it expires, or until
 * `deadline`: LeaseWaitTimeout), takes it, renews it every third of its length while `work` runs, however long
 * that is, and releases it when `work` ends, whether it succeeded or failed. `work` sends its statements
 * through whileHeld(client, lease), so that it stops between two statements if the lease is lost.
 */
export async function exclusively<T>(lease: JobLease, work: () => Promise<T>, options: ExclusiveOptions): Promise<T> {
  const wait = options.wait ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let waitedFor: LeaseClaim | undefined;
  for (;;) {
    const state = await lease.acquire();
    if (state.held) break;
    // A renewed claim keeps its holder and claimed_at: told once, not at every look.
    const claim = state.leader;
    if (claim && (claim.holder !== waitedFor?.holder || claim.claimedAt !== waitedFor.claimedAt)) {
      waitedFor = claim;
      options.onWait?.(claim);
    }
    if (options.deadline !== undefined && Date.now() >= options.deadline) throw new LeaseWaitTimeout(lease.job, claim ?? waitedFor);
    await wait(options.pollMs);
  }
  const renewals = keepRenewing(lease, {
    ...(options.onLost ? { onLost: options.onLost } : {}),
    onError: (error) => options.onError?.(error, 'renew'),
  });
  try {
    return await work();
  } finally {
    // A renewal landing after the release would make the claim valid again: the others would wait for it to expire.
    await renewals.stop();
    await lease.release().catch((error: unknown) => options.onError?.(error, 'release'));
  }
}
