// Runs before anything that imports a dependency: on a fresh clone node_modules is missing,
// so install exactly what package-lock.json pins. Plain Node only, no imports from node_modules.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  console.log('[tagflow] node_modules is missing: running npm ci');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[tagflow] npm ci failed; fix the error above and run the command again.');
    process.exit(result.status ?? 1);
  }
}
