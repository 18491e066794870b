// Project-local ClickHouse: reuse CLICKHOUSE_URL when given, else run our own server on loopback
// with its data under .data/clickhouse. Idempotent: a second call reuses the running server.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive } from '../../collector/spool/lock';
import { freePort } from '../free-port';
import { ensureProgram } from '../system-packages';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const home = join(root, '.data', 'clickhouse');
const stateFile = join(home, 'server.json');
const stateFileIn = (dir: string) => join(dir, 'server.json');

export const clickhouseAdvice =
  'Install it with `sudo apt-get install clickhouse-server clickhouse-client` (Debian/Ubuntu), ' +
  'or run one with `docker run -d -p 8123:8123 clickhouse/clickhouse-server` and set CLICKHOUSE_URL=http://127.0.0.1:8123.';

/** A reachable ClickHouse and how to let go of it. */
export interface ClickHouseHandle {
  url: string;
  /** True when this call started the server (so the caller may stop it). */
  startedHere: boolean;
  stop(): Promise<void>;
}

interface ServerState {
  pid: number;
  httpPort: number;
  tcpPort: number;
}

export async function ping(url: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(new URL('/ping', url), { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok;
  } catch {
    return false;
  }
}

function readState(): ServerState | undefined {
  if (!existsSync(stateFile)) return undefined;
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8')) as ServerState;
  } catch {
    return undefined;
  }
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return check();
}

function tailLogs(dir: string): string {
  const files = ['clickhouse-server.err.log', 'stdout.log'].map((f) => join(dir, 'log', f));
  return files
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f, 'utf8').split('\n').slice(-20).join('\n'))
    .join('\n');
}

async function stopPid(pid: number): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  if (!(await waitFor(() => !isAlive(pid), 30_000, 100))) process.kill(pid, 'SIGKILL');
}

function localHandle(state: ServerState, startedHere: boolean, dir = home): ClickHouseHandle {
  return {
    url: `http://127.0.0.1:${state.httpPort}`,
    startedHere,
    stop: async () => {
      await stopPid(state.pid);
      writeFileSync(stateFileIn(dir), '');
    },
  };
}

/** Where a ClickHouse server of its own keeps its data, and on which loopback ports it listens. */
export interface ClickHouseServerOptions {
  home: string;
  /** Free ports are picked when omitted; pass the same ports to restart a server where it was. */
  httpPort?: number;
  tcpPort?: number;
}

/** A server started by `startClickHouseServer`: its ports, so it can be started again on them after `stop()`. */
export interface ClickHouseServer extends ClickHouseHandle {
  httpPort: number;
  tcpPort: number;
  pid: number;
  /** Kills the server at once (SIGKILL), as a crash or a pulled plug would; resolves once it is gone. */
  kill(): Promise<void>;
}

const setpriv = '/usr/bin/setpriv';

/**
 * The command that runs `binary` without CAP_NET_ADMIN when we are root. With it, ClickHouse reads each thread's
 * statistics over netlink sockets, and before 19.1 it kept them in a pool that only grew (ClickHouse#4017): run as root
 * (as CI and a fresh container run), 18.16 reached its 20,000 open files within one test run of mutations and
 * parallel queries. Without the capability it reads them from /proc. setpriv (util-linux) execs the server in its
 * own place, so the child's pid is the server's.
 */
export function withoutNetAdmin(binary: string, args: string[], uid = process.getuid?.(), hasSetpriv = existsSync(setpriv)): [string, string[]] {
  if (uid !== 0 || !hasSetpriv) return [binary, args];
  return [setpriv, ['--bounding-set=-net_admin', '--inh-caps=-net_admin', binary, ...args]];
}

/**
 * Starts a ClickHouse server with its own home directory and ports (for tests that stop and start a
 * server, never the shared one). Resolves once it answers /ping; `stop()` stops it by its pid.
 */
export async function startClickHouseServer(options: ClickHouseServerOptions): Promise<ClickHouseServer> {
  const dir = options.home;
  const binary = ensureProgram(['clickhouse-server'], ['clickhouse-server', 'clickhouse-client'], clickhouseAdvice);
  for (const sub of ['data', 'tmp', 'user_files', 'format_schemas', 'log']) mkdirSync(join(dir, sub), { recursive: true });
  const state: Omit<ServerState, 'pid'> = { httpPort: options.httpPort ?? (await freePort()), tcpPort: options.tcpPort ?? (await freePort()) };
  const template = readFileSync(join(root, 'scripts', 'clickhouse', 'config.xml.tmpl'), 'utf8');
  writeFileSync(
    join(dir, 'config.xml'),
    template
      .replaceAll('@CH_HOME@', dir)
      .replaceAll('@HTTP_PORT@', String(state.httpPort))
      .replaceAll('@TCP_PORT@', String(state.tcpPort)),
  );
  writeFileSync(join(dir, 'users.xml'), readFileSync(join(root, 'scripts', 'clickhouse', 'users.xml')));

  const out = openSync(join(dir, 'log', 'stdout.log'), 'a');
  const [command, args] = withoutNetAdmin(binary, [`--config-file=${join(dir, 'config.xml')}`]);
  // detached: its own session, so it outlives `npm start` restarts and is stopped only by its pid.
  const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out], cwd: dir });
  closeSync(out);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${binary}`);
  const full: ServerState = { ...state, pid: child.pid };
  writeFileSync(stateFileIn(dir), JSON.stringify(full));

  const handle = localHandle(full, true, dir);
  const up = await waitFor(async () => (await ping(handle.url)) || !isAlive(full.pid), 60_000);
  if (!up || !isAlive(full.pid)) {
    await stopPid(full.pid);
    throw new Error(`ClickHouse did not start; its last log lines:\n${tailLogs(dir)}`);
  }
  const kill = async () => {
    if (isAlive(full.pid)) process.kill(full.pid, 'SIGKILL');
    await waitFor(() => !isAlive(full.pid), 30_000, 50);
    writeFileSync(stateFileIn(dir), '');
  };
  return { ...handle, ...full, kill };
}

function startLocal(): Promise<ClickHouseHandle> {
  return startClickHouseServer({ home });
}

/** Returns a reachable ClickHouse: CLICKHOUSE_URL, a running project-local server, or a new one. */
export async function ensureClickHouse(): Promise<ClickHouseHandle> {
  const external = process.env.CLICKHOUSE_URL;
  if (external) {
    if (!(await ping(external, 5000))) {
      throw new Error(`CLICKHOUSE_URL=${external} does not answer /ping; start that server or unset CLICKHOUSE_URL to use a project-local one.`);
    }
    return { url: external, startedHere: false, stop: async () => {} };
  }
  const state = readState();
  if (state && isAlive(state.pid)) {
    const handle = localHandle(state, false);
    if (await waitFor(() => ping(handle.url), 10_000)) return handle;
  }
  return startLocal();
}

/** Stops the project-local server if one is recorded as running. */
export async function stopLocalClickHouse(): Promise<boolean> {
  const state = readState();
  if (!state || !isAlive(state.pid)) return false;
  await localHandle(state, false).stop();
  return true;
}
