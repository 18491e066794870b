// Starts the collector: config → ClickHouse reachable → migrations → listen. Failures at start are
// reported as one sentence saying what to do, not a stack trace.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultLeaseSeconds, defaultShipper, defaultSpool, loadConfig, type CollectorConfig } from './config';
import { isEntryPoint } from './entry-point';
import { createMetrics, type CollectorMetrics } from './metrics';
import { buildServer } from './server';
import { Shipper } from './spool/shipper';
import { Spool, type CorruptReport } from './spool/spool';
import { createWarehouseClient } from './warehouse/client';
import { clickhouseWarehouse } from './warehouse/events';
import { linesWriter } from './warehouse/lines';
import { startWarehouseJobs } from './warehouse/jobs';
import { loadMigrations, loadViewStatements, migrate, type MigrationLogger } from './warehouse/migrate';
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify';

/** Thrown when the collector cannot start; its message is meant for the operator as is. */
export class StartupError extends Error {
  readonly code = 'STARTUP_FAILED';
}

async function reachable(url: string): Promise<boolean> {
  try {
    const response = await fetch(new URL('/ping', url), { signal: AbortSignal.timeout(3000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** A listening collector. `app.close()` stops accepting, ships what it can, and closes the spool. */
export interface RunningCollector {
  app: FastifyInstance;
  url: string;
  spool: Spool;
  metrics: CollectorMetrics;
}

/** How long closing waits for the shipper to empty the spool; the rest is replayed at the next start. */
export const drainTimeoutMs = 10_000;

export interface StartOptions {
  logger?: FastifyServerOptions['logger'];
  /** The migrations lease's settle delay (ms; lease.ts); tests whose database is their own shorten it. */
  migrationSettleMs?: number;
  /**
   * The receive time of tracked requests (ms), Date.now by default: what events are checked against and stamped
   * with, and the day a consent refusal is recorded on. Tests set it to send on another day; nothing else reads it.
   */
  receiveClock?: () => number;
}

/** What the migrations say before the server, and its logger, exist: one line each, as the start failures. */
const startupLog: MigrationLogger = {
  info: (_fields, message) => console.log(`[tagflow] ${message}`),
  error: (fields, message) => console.error(`[tagflow] ${message}${fields.err instanceof Error ? `: ${fields.err.message}` : ''}`),
};

/** Starts a collector for `config`; resolves once it listens. */
export async function startCollector(config: CollectorConfig, options: StartOptions = {}): Promise<RunningCollector> {
  if (!(await reachable(config.clickhouse.url))) {
    throw new StartupError(
      `ClickHouse is not reachable at ${config.clickhouse.url}: start it (npm start does this for you) or set CLICKHOUSE_URL to a running server.`,
    );
  }
  // Collectors started together take turns (the migrations lease): this waits while another one migrates.
  await migrate(config.clickhouse.url, config.clickhouse.database, loadMigrations(), loadViewStatements(), {
    leaseMs: (config.warehouseJobs?.leaseSeconds ?? defaultLeaseSeconds) * 1000,
    ...(options.logger ? { log: startupLog } : {}),
    ...(options.migrationSettleMs === undefined ? {} : { settleMs: options.migrationSettleMs }),
  });
  const client = createWarehouseClient(config.clickhouse.url, config.clickhouse.database);
  const warehouse = clickhouseWarehouse(client);
  // Tests may leave the spool out: they get a fresh temporary one, removed once it is empty.
  const temporaryDir = config.spool?.dir ? undefined : mkdtempSync(join(tmpdir(), 'tagflow-spool-'));
  let log: FastifyBaseLogger | undefined;
  let spool: Spool | undefined;
  const metrics = createMetrics(() => spool?.depthBytes() ?? 0);
  const onCorrupt = (report: CorruptReport) => {
    metrics.corruptRecords.inc();
    log?.error(report, 'a torn or corrupt spool record was set aside; the records after it are replayed');
  };
  const onCommit = (seconds: number) => metrics.spoolCommitSeconds.observe(seconds);
  try {
    spool = await Spool.open({ ...defaultSpool, ...config.spool, dir: config.spool?.dir ?? (temporaryDir as string), onCorrupt, onCommit });
  } catch (error) {
    throw new StartupError(`the spool cannot be opened: ${(error as Error).message}.`);
  }
  const app = await buildServer(config, warehouse, { logger: options.logger, spool, metrics, ...(options.receiveClock ? { receiveClock: options.receiveClock } : {}) });
  log = app.log;
  const shipper = new Shipper(spool, linesWriter(client), { ...defaultShipper, ...config.shipper }, metrics, app.log);
  shipper.start();
  const openSpool = spool;
  app.addHook('onClose', async () => {
    await shipper.stop(drainTimeoutMs);
    const left = openSpool.depthBytes();
    await openSpool.close();
    await warehouse.close();
    if (left > 0) app.log.warn({ bytes: left }, 'stopped with events still spooled; they are shipped at the next start');
    else if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
  });
  if (config.warehouseJobs) {
    const jobs = startWarehouseJobs(config.clickhouse, config.warehouseJobs, app.log, { blockedIds: config.blockedIds ?? [] });
    app.addHook('onClose', () => jobs.stop());
  }
  let address: string;
  try {
    address = await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close(); // the shipper and the spool are running: stop them, or the process never exits
    throw new StartupError(`cannot listen on ${config.host}:${config.port} (${(error as Error).message}); is another collector running there?`, { cause: error });
  }
  return { app, url: address, spool, metrics };
}

if (isEntryPoint(import.meta.url)) {
  try {
    const { app } = await startCollector(loadConfig(), { logger: true });
    // Stop accepting, ship what can be shipped, close the spool, exit.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        app.log.info({ signal }, 'stopping');
        void app.close().then(
          () => process.exit(0),
          (error: unknown) => {
            app.log.error({ err: error }, 'stopping failed');
            process.exit(1);
          },
        );
      });
    }
  } catch (error) {
    console.error(`[tagflow] ${(error as Error).message}`);
    process.exit(1);
  }
}
