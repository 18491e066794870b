// Runs the incremental warehouse jobs on timers inside the collector: identity resolution (every minute
// by default) and segment refresh (every 15 minutes). Each job waits for its previous run to finish, so
// runs never overlap; a failed run is logged and retried at the next tick.
import type { WarehouseJobsConfig } from '../config';
import { createWarehouseClient } from './client';
import { runIdentityJob } from './identity/job';
import { segmentStore } from './segments';

export interface JobLogger {
  error(object: unknown, message: string): void;
}

export interface WarehouseJobs {
  stop(): Promise<void>;
}

export function startWarehouseJobs(clickhouse: { url: string; database: string }, config: WarehouseJobsConfig, log: JobLogger): WarehouseJobs {
  const client = createWarehouseClient(clickhouse.url, clickhouse.database);
  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  let stopped = false;

  const every = (seconds: number, name: string, job: () => Promise<unknown>): void => {
    if (seconds <= 0) return;
    const tick = (): void => {
      if (stopped) return;
      const run = job()
        .catch((error: unknown) => log.error({ err: error }, `warehouse job ${name} failed`))
        .finally(() => {
          running.delete(run);
          if (!stopped) timers.push(setTimeout(tick, seconds * 1000).unref());
        });
      running.add(run);
    };
    timers.push(setTimeout(tick, 0).unref());
  };

  every(config.identityIntervalSeconds, 'identity', () => runIdentityJob(client, { overlapSeconds: config.identityOverlapSeconds }));
  const segments = segmentStore(client);
  every(config.segmentIntervalSeconds, 'segments', () => segments.materializeAll(log));

  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      await Promise.all(running);
      await client.close();
    },
  };
}
