// Builds the SDK (npm package, IIFE and snippet) with rollup, as `npm run build` does.
import { spawnSync } from 'node:child_process';

export function buildSdk(): void {
  const result = spawnSync('npx', ['rollup', '-c', '--silent'], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error('the SDK build failed (see above)');
}
