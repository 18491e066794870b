// Project-local ClickHouse: reuse CLICKHOUSE_URL when given, else run our own server on loopback
// with its data under .data/clickhouse. Idempotent: a second call reuses the running server.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../free-port';
import { ensureProgram } from '../system-packages';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const home = join(root, '.data', 'clickhouse');
const stateFile = join(home, 'server.json');

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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
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

function tailLogs(): string {
  const files = ['clickhouse-server.err.log', 'stdout.log'].map((f) => join(home, 'log', f));
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

function localHandle(state: ServerState, startedHere: boolean): ClickHouseHandle {
  return {
    url: `http://127.0.0.1:${state.httpPort}`,
    startedHere,
    stop: async () => {
      await stopPid(state.pid);
      writeFileSync(stateFile, '');
    },
  };
}

async function startLocal(): Promise<ClickHouseHandle> {
  const binary = ensureProgram(['clickhouse-server'], ['clickhouse-server', 'clickhouse-client'], clickhouseAdvice);
  for (const dir of ['data', 'tmp', 'user_files', 'format_schemas', 'log']) mkdirSync(join(home, dir), { recursive: true });
  const state: Omit<ServerState, 'pid'> = { httpPort: await freePort(), tcpPort: await freePort() };
  const template = readFileSync(join(root, 'scripts', 'clickhouse', 'config.xml.tmpl'), 'utf8');
  writeFileSync(
    join(home, 'config.xml'),
    template
      .replaceAll('@CH_HOME@', home)
      .replaceAll('@HTTP_PORT@', String(state.httpPort))
      .replaceAll('@TCP_PORT@', String(state.tcpPort)),
  );
  writeFileSync(join(home, 'users.xml'), readFileSync(join(root, 'scripts', 'clickhouse', 'users.xml')));

  const out = openSync(join(home, 'log', 'stdout.log'), 'a');
  // detached: its own session, so it outlives `npm start` restarts and is stopped only by its pid.
  const child = spawn(binary, [`--config-file=${join(home, 'config.xml')}`], { detached: true, stdio: ['ignore', out, out], cwd: home });
  closeSync(out);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${binary}`);
  const full: ServerState = { ...state, pid: child.pid };
  writeFileSync(stateFile, JSON.stringify(full));

  const handle = localHandle(full, true);
  const up = await waitFor(async () => (await ping(handle.url)) || !isAlive(full.pid), 60_000);
  if (!up || !isAlive(full.pid)) {
    await stopPid(full.pid);
    throw new Error(`ClickHouse did not start; its last log lines:\n${tailLogs()}`);
  }
  return handle;
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
