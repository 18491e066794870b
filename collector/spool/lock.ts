// One collector per spool directory: a lock file holding the owner's pid. A lock whose process is gone
// (kill -9) is taken over.
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Another running process has the spool directory. */
export class SpoolLockedError extends Error {
  readonly code = 'SPOOL_LOCKED';
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Takes `dir/lock` for this process; a lock left by a process that is gone (kill -9) is taken over. */
export async function lock(dir: string): Promise<void> {
  const path = join(dir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(await readFile(path, 'utf8').catch(() => ''));
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new SpoolLockedError(`the spool directory ${dir} is in use by process ${owner}; give each collector its own spool.dir`);
      }
      await unlink(path).catch(() => undefined);
    }
  }
  throw new SpoolLockedError(`could not lock the spool directory ${dir}`);
}

/** Gives the lock up (a clean stop). */
export async function unlock(dir: string): Promise<void> {
  await unlink(join(dir, 'lock')).catch(() => undefined);
}
