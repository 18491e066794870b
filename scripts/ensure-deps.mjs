// Runs before anything that imports a dependency: on a fresh clone node_modules is missing, and after
// a pull that changed package-lock.json it is stale; either way install exactly what the lock pins.
// Plain Node only, no imports from node_modules.
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const installed = join(root, 'node_modules', '.package-lock.json');
const stale = () => statSync(join(root, 'package-lock.json')).mtimeMs > statSync(installed).mtimeMs;
if (!existsSync(installed) || stale()) {
  console.log('[tagflow] node_modules is missing or older than package-lock.json: running npm ci');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[tagflow] npm ci failed; fix the error above and run the command again.');
    process.exit(result.status ?? 1);
  }
}
