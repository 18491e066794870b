// A real collector for tests: its own ClickHouse database, a random port, the demo shop served.
import type { FastifyInstance } from 'fastify';
import type { CollectorConfig, SourceConfig } from '../../collector/config';
import { startCollector, type RunningCollector, type StartOptions } from '../../collector/main';
import { freePort } from '../../scripts/free-port';
import { createTestDatabase, privateSettleMs, type TestDatabase } from './clickhouse';

export interface TestCollector {
  url: string;
  source: SourceConfig;
  config: CollectorConfig;
  db: TestDatabase;
  app: FastifyInstance;
  spool: RunningCollector['spool'];
  metrics: RunningCollector['metrics'];
  close(): Promise<void>;
}

/**
 * `overrides` change the one source; `settings` the rest of the config (the shipper flushes every 50 ms by default);
 * `start` the start options besides the settle delay (a receive clock).
 */
export async function startTestCollector(overrides: Partial<SourceConfig> = {}, settings: Partial<CollectorConfig> = {}, start: Pick<StartOptions, 'receiveClock'> = {}): Promise<TestCollector> {
  const db = await createTestDatabase('collector');
  // freePort's port was free a moment ago; a parallel test file may take it first: then try another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(await freePort(), db, overrides, settings, start);
    } catch (error) {
      if (attempt === 5 || ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code !== 'EADDRINUSE') {
        await db.drop();
        throw error;
      }
    }
  }
}

async function startOn(port: number, db: TestDatabase, overrides: Partial<SourceConfig>, settings: Partial<CollectorConfig>, start: Pick<StartOptions, 'receiveClock'>): Promise<TestCollector> {
  const url = `http://127.0.0.1:${port}`;
  const source: SourceConfig = { id: 'test-source', writeKey: 'test-write-key', allowedOrigins: [url], keepFullIp: false, ...overrides };
  const config: CollectorConfig = {
    host: '127.0.0.1',
    port,
    clickhouse: { url: db.url, database: db.database },
    sources: [source],
    serveDemo: true,
    shipper: { intervalMs: 50 },
    ...settings,
  };
  const { app, spool, metrics } = await startCollector(config, { ...start, migrationSettleMs: privateSettleMs });
  return {
    url,
    source,
    config,
    db,
    app,
    spool,
    metrics,
    async close() {
      await app.close();
      await db.drop();
    },
  };
}

/** POSTs `batch` to the collector's /v1/batch with its source's write key in the body (as the SDK sends it). */
export function sendBatch(collector: Pick<TestCollector, 'url' | 'source'>, batch: Record<string, unknown>[]): Promise<Response> {
  return fetch(`${collector.url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ writeKey: collector.source.writeKey, batch }),
  });
}
