// `npm test`: the same bootstrap as `npm start` (ClickHouse is ensured by the node and browser projects' global setup),
// plus Chromium for the browser tests, then the whole suite.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildSdk } from './build';
import { ensureChromium } from './chromium';

try {
  ensureChromium();
  buildSdk();
} catch (error) {
  console.error(`[tagflow] ${(error as Error).message}`);
  process.exit(1);
}
const report = join('.data', 'test-results.json');
mkdirSync('.data', { recursive: true });
rmSync(report, { force: true });
const result = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
// One plain closing line that CI and people can read whatever the runner prints above it.
if (existsSync(report)) {
  const totals = JSON.parse(readFileSync(report, 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numFailedTestSuites: number };
  // A file that fails before its tests run (a beforeAll) fails no test: its tests count as skipped.
  const files = totals.numFailedTestSuites ? `; ${totals.numFailedTestSuites} test file(s) failed` : '';
  console.log(`\ntests: ${totals.numPassedTests} passed, ${totals.numFailedTests} failed, ${totals.numPendingTests} skipped${files}`);
}
process.exit(result.status ?? 1);
