// The project-local ClickHouse server's launch: as root it runs without CAP_NET_ADMIN, or 18.16 leaks netlink sockets
// until it runs out of open files (server.ts, withoutNetAdmin).
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startClickHouseServer, withoutNetAdmin } from './server';

const netAdmin = 12; // CAP_NET_ADMIN's bit in /proc/<pid>/status

/** The capability sets of a process, as numbers (CapEff, CapBnd, …). */
function capabilities(pid: number): Record<string, bigint> {
  const lines = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').filter((line) => line.startsWith('Cap'));
  return Object.fromEntries(lines.map((line) => line.split(/:\s+/)).map(([name, hex]) => [name, BigInt(`0x${hex}`)]));
}

/** How many netlink sockets a process holds: its socket descriptors whose inode /proc/<pid>/net/netlink lists. */
function netlinkSockets(pid: number): number {
  const netlink = new Set(readFileSync(`/proc/${pid}/net/netlink`, 'utf8').trim().split('\n').slice(1).map((line) => line.trim().split(/\s+/).at(-1)));
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return netlink.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]);
    } catch {
      return false; // closed while listed
    }
  }).length;
}

describe('withoutNetAdmin', () => {
  it('runs the server through setpriv, dropping only CAP_NET_ADMIN, when root has setpriv', () => {
    expect(withoutNetAdmin('/usr/sbin/clickhouse-server', ['--config-file=c.xml'], 0, true)).toEqual([
      '/usr/bin/setpriv',
      ['--bounding-set=-net_admin', '--inh-caps=-net_admin', '/usr/sbin/clickhouse-server', '--config-file=c.xml'],
    ]);
  });

  it('runs the server itself for another user (no capabilities to drop) or without setpriv', () => {
    const direct = ['/usr/sbin/clickhouse-server', ['--config-file=c.xml']];
    expect(withoutNetAdmin('/usr/sbin/clickhouse-server', ['--config-file=c.xml'], 1000, true)).toEqual(direct);
    expect(withoutNetAdmin('/usr/sbin/clickhouse-server', ['--config-file=c.xml'], 0, false)).toEqual(direct);
  });
});

describe('a started server', () => {
  it('has no CAP_NET_ADMIN, and parallel queries leave it no more sockets than it had', async () => {
    const home = mkdtempSync(join(tmpdir(), 'tagflow-caps-'));
    const server = await startClickHouseServer({ home: join(home, 'clickhouse') });
    try {
      const caps = capabilities(server.pid);
      expect(caps.CapEff !== undefined && ((caps.CapEff >> BigInt(netAdmin)) & 1n)).toBe(0n);
      const query = (sql: string) => fetch(server.url, { method: 'POST', body: sql }).then((r) => r.text());
      await query('SELECT 1');
      const before = netlinkSockets(server.pid);
      // Queries that each start many threads (max_threads), several at a time: with CAP_NET_ADMIN every new thread
      // took a netlink socket that 18.16 never gave back.
      for (let round = 0; round < 5; round++) {
        await Promise.all(Array.from({ length: 8 }, () => query('SELECT count() FROM numbers_mt(2000000) SETTINGS max_threads = 16, max_block_size = 1000')));
      }
      expect(netlinkSockets(server.pid)).toBeLessThanOrEqual(before + 2);
    } finally {
      await server.kill();
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);
});
