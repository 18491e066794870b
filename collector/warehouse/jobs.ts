// Runs the incremental warehouse jobs on timers inside the collector: identity resolution, then the pending
// erasures of persons (every minute by default), and segment refresh (every 15 minutes). Several collectors may
// share one database (behind a load balancer, each with its own spool): each job runs on one of them at a time,
// the one holding the job's lease in ClickHouse (lease.ts). The holder keeps it between runs, renewing it every
// third of its length, until it stops (which releases it) or dies (it then expires); the other collectors' ticks
// find it held and skip, and the first tick after it is free takes the job over. Within a collector a job waits
// for its previous run to finish; a failed run is logged and retried at the next tick. An interval of 0 keeps a
// collector out of that job altogether, to pin a job to chosen collectors.
// Jobs give way to migrations: while another collector holds the `migrations` lease (migrate.ts, at its start),
// a tick neither takes nor keeps the job's lease, and a holder between two runs gives it up at its next renewal,
// so that the migrator, which takes the jobs' leases itself before it migrates, finds them free. A run under way
// is never cut short for it: the migrator waits for its end. The ticks after the migrations lease is released
// take the jobs again (lease.ts, "Migrations exclude the jobs").
import { defaultLeaseSeconds, type WarehouseJobsConfig } from '../config';
import { createWarehouseClient, type ClickHouseClient } from './client';
import { processErasures } from './erasure';
import { runIdentityJob } from './identity/job';
import {
  createLease,
  keepRenewing,
  LeaseLostError,
  migrationsLease,
  newHolderName,
  readLeader,
  whileHeld,
  type JobLease,
  type LeaseClaim,
  type Renewals,
  type WarehouseJobName,
} from './lease';
import { segmentStore } from './segments';

export type { WarehouseJobName } from './lease';

export interface JobLogger {
  error(object: unknown, message: string): void;
  /** Ticks skipped because another collector holds the job or migrates: every tick of every standby, so debug level. */
  debug?(object: unknown, message: string): void;
  /** A job's lease given up to a collector that migrates. */
  info?(object: unknown, message: string): void;
}

export interface WarehouseJobs {
  stop(): Promise<void>;
}

export interface WarehouseJobsOptions {
  /** The config's blockedIds, which the identity job makes no node of (ingest/placeholder-ids.ts). */
  blockedIds?: readonly string[];
  /** This scheduler's name in job_leases; default host:pid:random (unique, and readable by people). */
  holder?: string;
  /** The lease's settle delay in ms (lease.ts); tests shorten it. */
  settleMs?: number;
  /** Replaces a job's body; tests observe overlaps with it. The client given fails once the lease is lost. */
  runners?: Partial<Record<WarehouseJobName, (client: ClickHouseClient) => Promise<unknown>>>;
  /** Wraps the client the leases and the jobs use; tests hold a statement back with it. */
  wrapClient?: (client: ClickHouseClient) => ClickHouseClient;
}

/** One job on this collector: its lease, the renewals while it holds it, and whether a tick is under way. */
interface ScheduledJob {
  name: WarehouseJobName;
  lease: JobLease;
  renewals: Renewals | undefined;
  /** From a tick's first look at the migrations lease to the end of its run: the renewals then leave the lease alone. */
  turning: boolean;
}

export function startWarehouseJobs(
  clickhouse: { url: string; database: string },
  config: WarehouseJobsConfig,
  log: JobLogger,
  options: WarehouseJobsOptions = {},
): WarehouseJobs {
  const ownClient = createWarehouseClient(clickhouse.url, clickhouse.database);
  const client = options.wrapClient ? options.wrapClient(ownClient) : ownClient;
  const holder = options.holder ?? newHolderName();
  const ttlMs = (config.leaseSeconds ?? defaultLeaseSeconds) * 1000;
  const runners: Record<WarehouseJobName, (jobClient: ClickHouseClient) => Promise<unknown>> = {
    // Erasures right after an identity run, inside its lease: no identity run writes while rows are deleted, and the
    // newest events are attributed to their person before the person's events are looked up (erasure.ts).
    identity: async (jobClient) => ({
      ...(await runIdentityJob(jobClient, { overlapSeconds: config.identityOverlapSeconds, blockedIds: options.blockedIds ?? [] })),
      erasures: await processErasures(jobClient),
    }),
    segments: (jobClient) => segmentStore(jobClient).materializeAll(log),
    ...options.runners,
  };
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  const jobs: ScheduledJob[] = [];
  let stopped = false;

  const track = (work: Promise<unknown>): void => {
    running.add(work);
    const done = (): void => void running.delete(work);
    work.then(done, done);
  };

  const later = (fn: () => void, ms: number): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms).unref();
    timers.add(timer);
  };

  /** The collector migrating the database now, if any: its valid claim on the migrations lease. */
  const migrator = (): Promise<LeaseClaim | undefined> => readLeader(client, migrationsLease, Date.now());

  /**
   * Gives the job's lease up (if this collector has it) to `by`, which migrates. Its renewals stop first, unless
   * this is one of them (`fromRenewal`: they end when it returns, and stop() waits for it as for any renewal).
   */
  const giveWay = async (job: ScheduledJob, by: LeaseClaim, fromRenewal = false): Promise<void> => {
    const had = job.lease.held();
    if (!fromRenewal) await job.renewals?.stop();
    await job.lease.release().catch((error: unknown) => log.error({ err: error, job: job.name }, `warehouse job ${job.name}: the lease could not be released; it expires by itself`));
    if (had) log.info?.({ job: job.name, migrator: by.holder }, `warehouse job ${job.name}: lease given up while collector ${by.holder} migrates the database; taken again after`);
  };

  /**
   * After each renewal between two runs: if a collector migrates, gives the lease up and stops renewing (false).
   * During a tick the tick looks itself, before its run, and a run is never cut short: the migrator waits for it.
   */
  const keepUnlessMigrating = (job: ScheduledJob) => async (): Promise<boolean> => {
    if (job.turning || stopped) return true;
    const by = await migrator().catch((error: unknown) => {
      log.error({ err: error, job: job.name }, `warehouse job ${job.name}: the migrations lease could not be read (looked at again at the next renewal)`);
      return undefined;
    });
    // A tick that began during the read looks itself. From here to release() setting the lease free nothing
    // waits, so no tick starts a run in between.
    if (!by || job.turning || stopped) return true;
    await giveWay(job, by, true);
    return false;
  };

  const renewing = (job: ScheduledJob): Renewals =>
    keepRenewing(job.lease, {
      onLost: () => log.error({ job: job.name, holder }, `warehouse job ${job.name}: this collector lost its lease; the next free tick of any collector takes the job`),
      onError: (error) => log.error({ err: error, job: job.name }, `warehouse job ${job.name}: the lease could not be renewed (retried)`),
      afterRenewal: keepUnlessMigrating(job),
    });

  /** True if a collector migrates, after giving the job's lease up to it. */
  const givesWay = async (job: ScheduledJob): Promise<boolean> => {
    const by = await migrator();
    if (!by) return false;
    log.debug?.({ job: job.name, migrator: by.holder }, `warehouse job ${job.name} skipped: collector ${by.holder} is migrating the database`);
    await giveWay(job, by);
    return true;
  };

  /**
   * One tick: unless a collector migrates, take (or keep) the job's lease, then run the job with a client that
   * stops if the lease is lost. The migrations lease is looked at before the job's is taken, so that a standby
   * does not claim it then, and again after, before the run, for a migrator that came meanwhile (safety does
   * not rest on these looks: the migrator takes this lease itself; lease.ts).
   */
  const turn = async (job: ScheduledJob): Promise<void> => {
    if (await givesWay(job)) return;
    const state = await job.lease.acquire();
    if (!state.held) {
      log.debug?.({ job: job.name, leader: state.leader?.holder }, `warehouse job ${job.name} skipped: another collector holds its lease`);
      return;
    }
    if (await givesWay(job)) return;
    // stop() may have come while the lease was being taken: it stopped the renewals it found, and releases
    // the lease once this tick ends; renewals started now would run on after it.
    if (stopped) return;
    if (!job.renewals?.active) job.renewals = renewing(job);
    await runners[job.name](whileHeld(client, job.lease));
  };

  const every = (seconds: number, name: WarehouseJobName): void => {
    if (seconds <= 0) return;
    const lease = createLease(client, { job: name, holder, ttlMs, ...(options.settleMs === undefined ? {} : { settleMs: options.settleMs }) });
    const job: ScheduledJob = { name, lease, renewals: undefined, turning: false };
    jobs.push(job);
    const tick = (): void => {
      if (stopped) return;
      job.turning = true;
      const run = turn(job)
        .catch((error: unknown) =>
          error instanceof LeaseLostError
            ? log.error({ job: name }, `warehouse job ${name} stopped: this collector lost its lease before the run finished; the next run completes it`)
            : log.error({ err: error }, `warehouse job ${name} failed`),
        )
        .finally(() => {
          job.turning = false;
          if (!stopped) later(tick, seconds * 1000);
        });
      track(run);
    };
    later(tick, 0);
  };

  every(config.identityIntervalSeconds, 'identity');
  every(config.segmentIntervalSeconds, 'segments');

  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      await Promise.all(jobs.map((job) => job.renewals?.stop()));
      await Promise.all(running);
      // Another collector can take the jobs at its next tick rather than after the lease expires.
      await Promise.all(
        jobs.map((job) =>
          job.lease.release().catch((error: unknown) => log.error({ err: error, job: job.name }, `warehouse job ${job.name}: the lease could not be released; it expires by itself`)),
        ),
      );
      await ownClient.close();
    },
  };
}
