// A real collector in a child process (`node --import tsx collector/main.ts` with a config file), for
// fault tests that kill it, stop it with a signal, or watch its memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from './clickhouse';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CollectorProcess {
  url: string;
  pid: number;
  /** Resident memory of the process in bytes, from /proc. */
  rss(): number;
  /** Sends `signal` and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Writes `config` to `dir/config.json` and starts a collector on it; resolves once /healthz answers. */
export async function spawnCollector(dir: string, config: Record<string, unknown>, env: Record<string, string> = {}): Promise<CollectorProcess> {
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config));
  const log = openSync(join(dir, 'collector.log'), 'a');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(root, 'collector', 'main.ts')], {
    cwd: root,
    env: { ...process.env, ...env, TAGFLOW_CONFIG: configFile },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  if (!child.pid) throw new Error('could not start the collector process');
  const pid = child.pid;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${String(config.port)}`;
  await waitUntil(
    async () => {
      if (gone) throw new Error(`the collector exited at start; its log:\n${readFileSync(join(dir, 'collector.log'), 'utf8').slice(-2000)}`);
      return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    },
    (ok) => ok,
    30_000,
  );
  return {
    url,
    pid,
    rss() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    async stop(signal = 'SIGTERM') {
      if (!gone) child.kill(signal);
      return exited;
    },
  };
}
