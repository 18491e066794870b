// A real collector for tests: its own ClickHouse database, a random port, the demo shop served.
import type { FastifyInstance } from 'fastify';
import type { CollectorConfig, SourceConfig } from '../../collector/config';
import { startCollector } from '../../collector/main';
import { freePort } from '../../scripts/free-port';
import { createTestDatabase, type TestDatabase } from './clickhouse';

export interface TestCollector {
  url: string;
  source: SourceConfig;
  config: CollectorConfig;
  db: TestDatabase;
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function startTestCollector(overrides: Partial<SourceConfig> = {}, configOverrides: Partial<CollectorConfig> = {}): Promise<TestCollector> {
  const db = await createTestDatabase('collector');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const source: SourceConfig = { id: 'test-source', writeKey: 'test-write-key', allowedOrigins: [url], keepFullIp: false, ...overrides };
  const config: CollectorConfig = {
    host: '127.0.0.1',
    port,
    clickhouse: { url: db.url, database: db.database },
    sources: [source],
    serveDemo: true,
    ...configOverrides,
  };
  const { app } = await startCollector(config);
  return {
    url,
    source,
    config,
    db,
    app,
    async close() {
      await app.close();
      await db.drop();
    },
  };
}
