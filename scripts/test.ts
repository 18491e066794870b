// `npm test`: the same bootstrap as `npm start` (ClickHouse is ensured by the vitest global setup),
// plus Chromium for the browser tests, then the whole suite.
import { spawnSync } from 'node:child_process';
import { buildSdk } from './build';
import { ensureChromium } from './chromium';

try {
  ensureChromium();
  buildSdk();
} catch (error) {
  console.error(`[tagflow] ${(error as Error).message}`);
  process.exit(1);
}
const result = spawnSync('npx', ['vitest', 'run', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
