// Runs the incremental warehouse jobs on timers inside the collector: identity resolution (every minute by
// default) and segment refresh (every 15 minutes). Several collectors may share one database (behind a load
// balancer, each with its own spool): each job runs on one of them at a time, the one holding the job's lease
// in ClickHouse (lease.ts). The holder keeps it between runs, renewing it every third of its length, until it
// stops (which releases it) or dies (it then expires); the other collectors' ticks find it held and skip, and
// the first tick after it is free takes the job over. Within a collector a job waits for its previous run to
// finish; a failed run is logged and retried at the next tick. An interval of 0 keeps a collector out of that
// job altogether, to pin a job to chosen collectors.
import { defaultLeaseSeconds, type WarehouseJobsConfig } from '../config';
import { createWarehouseClient, type ClickHouseClient } from './client';
import { runIdentityJob } from './identity/job';
import { createLease, LeaseLostError, newHolderName, whileHeld, type JobLease } from './lease';
import { segmentStore } from './segments';

export interface JobLogger {
  error(object: unknown, message: string): void;
  /** Ticks skipped because another collector holds the job: every tick of every standby, so debug level. */
  debug?(object: unknown, message: string): void;
}

export interface WarehouseJobs {
  stop(): Promise<void>;
}

export type WarehouseJobName = 'identity' | 'segments';

export interface WarehouseJobsOptions {
  /** This scheduler's name in job_leases; default host:pid:random (unique, and readable by people). */
  holder?: string;
  /** The lease's settle delay in ms (lease.ts); tests shorten it. */
  settleMs?: number;
  /** Replaces a job's body; tests observe overlaps with it. The client given fails once the lease is lost. */
  runners?: Partial<Record<WarehouseJobName, (client: ClickHouseClient) => Promise<unknown>>>;
  /** Wraps the client the leases and the jobs use; tests hold a statement back with it. */
  wrapClient?: (client: ClickHouseClient) => ClickHouseClient;
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
    identity: (jobClient) => runIdentityJob(jobClient, { overlapSeconds: config.identityOverlapSeconds }),
    segments: (jobClient) => segmentStore(jobClient).materializeAll(log),
    ...options.runners,
  };
  const timers = new Set<NodeJS.Timeout>();
  const renewals = new Map<JobLease, NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  const leases: JobLease[] = [];
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

  /** Renews a held lease every third of its length, between runs too, until it is lost or the scheduler stops. */
  const keepRenewing = (lease: JobLease): void => {
    if (renewals.has(lease)) return;
    let inFlight = false;
    const timer = setInterval(() => {
      if (inFlight || stopped) return;
      inFlight = true;
      const renewal = lease.renew().then(
        (kept) => {
          if (kept) return;
          clearInterval(timer);
          renewals.delete(lease);
          log.error({ job: lease.job, holder }, `warehouse job ${lease.job}: this collector lost its lease; the next free tick of any collector takes the job`);
        },
        (error: unknown) => log.error({ err: error, job: lease.job }, `warehouse job ${lease.job}: the lease could not be renewed (retried)`),
      );
      track(renewal.finally(() => (inFlight = false)));
    }, ttlMs / 3).unref();
    renewals.set(lease, timer);
  };

  /** One tick: take (or keep) the job's lease, then run the job with a client that stops if the lease is lost. */
  const turn = async (name: WarehouseJobName, lease: JobLease): Promise<void> => {
    const state = await lease.acquire();
    if (!state.held) {
      log.debug?.({ job: name, leader: state.leader?.holder }, `warehouse job ${name} skipped: another collector holds its lease`);
      return;
    }
    keepRenewing(lease);
    if (stopped) return;
    await runners[name](whileHeld(client, lease));
  };

  const every = (seconds: number, name: WarehouseJobName): void => {
    if (seconds <= 0) return;
    const lease = createLease(client, { job: name, holder, ttlMs, ...(options.settleMs === undefined ? {} : { settleMs: options.settleMs }) });
    leases.push(lease);
    const tick = (): void => {
      if (stopped) return;
      const run = turn(name, lease)
        .catch((error: unknown) =>
          error instanceof LeaseLostError
            ? log.error({ job: name }, `warehouse job ${name} stopped: this collector lost its lease before the run finished; the next run completes it`)
            : log.error({ err: error }, `warehouse job ${name} failed`),
        )
        .finally(() => {
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
      for (const timer of renewals.values()) clearInterval(timer);
      await Promise.all(running);
      // Another collector can take the jobs at its next tick rather than after the lease expires.
      await Promise.all(leases.map((lease) => lease.release().catch((error: unknown) => log.error({ err: error, job: lease.job }, `warehouse job ${lease.job}: the lease could not be released; it expires by itself`))));
      await ownClient.close();
    },
  };
}
