// `npm start`: ClickHouse, migrations, SDK build, then the collector with the demo shop.
import { startCollector } from '../collector/main';
import { loadConfig } from '../collector/config';
import { isEntryPoint } from '../collector/entry-point';
import { buildSdk } from './build';
import { ensureClickHouse } from './clickhouse/server';

/** What `npm start` prints once the collector listens. */
export interface StartBanner {
  base: string;
  clickhouseUrl: string;
  database: string;
  /** The project-local ClickHouse (under .data/), which outlives this process; false for CLICKHOUSE_URL's. */
  projectLocalClickHouse: boolean;
}

export function startBanner({ base, clickhouseUrl, database, projectLocalClickHouse }: StartBanner): string {
  // Only the server npm start runs itself is ours to stop; one named by CLICKHOUSE_URL is someone else's.
  const stop = projectLocalClickHouse ? ' The project-local ClickHouse keeps running; stop it with npm run clickhouse:stop.' : '';
  return `
  Tagflow is running.
    Demo shop:   ${base}/
    Collector:   ${base}/v1/batch
    SDK:         ${base}/sdk/tagflow.min.js
    Health:      ${base}/healthz
    Metrics:     ${base}/metrics
    ClickHouse:  ${clickhouseUrl} (database ${database})
  Stop with Ctrl-C.${stop}
`;
}

async function start(): Promise<void> {
  // ensureClickHouse uses CLICKHOUSE_URL as given when it is set; otherwise it runs (or reuses) the project-local server.
  const projectLocalClickHouse = !process.env.CLICKHOUSE_URL;
  const clickhouse = await ensureClickHouse();
  // `--no-build` is for the test of this script, which runs while other tests read dist/.
  if (!process.argv.includes('--no-build')) buildSdk();
  const loaded = loadConfig({
    TAGFLOW_CONFIG: 'examples/shop/tagflow.config.json',
    TAGFLOW_DEMO: '1',
    ...process.env,
    CLICKHOUSE_URL: clickhouse.url,
  });
  // The demo shop is served by the collector itself, so its origin is allowed whatever PORT says.
  const shopOrigins = [`http://127.0.0.1:${loaded.port}`, `http://localhost:${loaded.port}`];
  const config = { ...loaded, sources: loaded.sources.map((s, i) => (i === 0 ? { ...s, allowedOrigins: [...s.allowedOrigins, ...shopOrigins] } : s)) };
  const { app } = await startCollector(config, { logger: { level: 'warn' } });
  const base = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${(app.server.address() as { port: number }).port}`;
  console.log(startBanner({ base, clickhouseUrl: clickhouse.url, database: config.clickhouse.database, projectLocalClickHouse }));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close().then(() => process.exit(0)));
}

if (isEntryPoint(import.meta.url)) {
  try {
    await start();
  } catch (error) {
    console.error(`[tagflow] ${(error as Error).message}`);
    process.exit(1);
  }
}
