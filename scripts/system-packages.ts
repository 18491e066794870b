// Finds a system binary and, on Debian/Ubuntu as root, installs the Debian package that ships it.
// Shared by the ClickHouse and Chromium bootstraps so both behave (and fail) the same way.
import { accessSync, constants, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';

/** Thrown when a required program is missing and cannot be installed from here. */
export class MissingProgramError extends Error {
  readonly code = 'MISSING_PROGRAM';
}

const extraDirs = ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin'];

/** Absolute path of the first of `names` found on PATH (or in the usual sbin folders), or undefined. */
export function findProgram(names: readonly string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraDirs].filter(Boolean);
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here; keep looking
      }
    }
  }
  return undefined;
}

let aptUpdated = false;

/**
 * Returns the path of one of `names`, installing `packages` with apt-get first when none is found
 * and we are root on a Debian-like system. Otherwise throws with `advice` for the person.
 */
export function ensureProgram(names: readonly string[], packages: readonly string[], advice: string): string {
  const found = findProgram(names);
  if (found) return found;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    throw new MissingProgramError(`${names[0]} is not installed. ${advice}`);
  }
  console.log(`[tagflow] installing ${packages.join(' ')} with apt-get (this happens once)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    aptUpdated = true;
  }
  const install = spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env });
  const installed = findProgram(names);
  if (install.status !== 0 || !installed) {
    throw new MissingProgramError(`apt-get could not install ${packages.join(' ')}. ${advice}`);
  }
  return installed;
}
