// Whether a module is the script node was started with (`npx tsx collector/main.ts`), so importing it from
// a test does not start anything.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * True when `moduleUrl` (the module's `import.meta.url`) is the file named by `argv1` (`process.argv[1]`).
 * Compared as paths: the URL percent-encodes a space or a non-ASCII letter in the clone's folder, the
 * argument does not.
 */
export function isEntryPoint(moduleUrl: string, argv1: string | undefined = process.argv[1]): boolean {
  return argv1 !== undefined && fileURLToPath(moduleUrl) === resolve(argv1);
}
