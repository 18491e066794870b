// Starts the collector: config → ClickHouse reachable → migrations → listen. Failures at start are
// reported as one sentence saying what to do, not a stack trace.
import { loadConfig, type CollectorConfig } from './config';
import { buildServer } from './server';
import { createWarehouseClient } from './warehouse/client';
import { clickhouseWarehouse } from './warehouse/events';
import { startWarehouseJobs } from './warehouse/jobs';
import { migrate } from './warehouse/migrate';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

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

/** Starts a collector for `config`; resolves once it listens. */
export async function startCollector(config: CollectorConfig, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<{ app: FastifyInstance; url: string }> {
  if (!(await reachable(config.clickhouse.url))) {
    throw new StartupError(
      `ClickHouse is not reachable at ${config.clickhouse.url}: start it (npm start does this for you) or set CLICKHOUSE_URL to a running server.`,
    );
  }
  await migrate(config.clickhouse.url, config.clickhouse.database);
  const warehouse = clickhouseWarehouse(createWarehouseClient(config.clickhouse.url, config.clickhouse.database));
  const app = await buildServer(config, warehouse, options);
  app.addHook('onClose', () => warehouse.close());
  if (config.warehouseJobs) {
    const jobs = startWarehouseJobs(config.clickhouse, config.warehouseJobs, app.log);
    app.addHook('onClose', () => jobs.stop());
  }
  const address = await app.listen({ host: config.host, port: config.port });
  return { app, url: address };
}

const isEntryPoint = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isEntryPoint) {
  try {
    const { app } = await startCollector(loadConfig(), { logger: true });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close().then(() => process.exit(0)));
  } catch (error) {
    console.error(`[tagflow] ${(error as Error).message}`);
    process.exit(1);
  }
}
