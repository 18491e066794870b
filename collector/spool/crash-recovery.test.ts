// Fault test: kill -9 the collector process in the middle of a stream of 20,000 events, restart it on the
// same spool, and finish the stream. Every acknowledged messageId must then be in the deduplicated
// events exactly once: what was spooled before the kill is replayed, nothing acknowledged is lost.
// The restarted collector ships nothing until it is stopped (its shipper waits for 1,000,000 rows or
// ten minutes), so the end also shows SIGTERM shipping everything spooled before it exits.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/free-port';
import { createTestDatabase, waitUntil, type TestDatabase } from '../../test/support/clickhouse';
import { spawnCollector, type CollectorProcess } from '../../test/support/collector-process';

const writeKey = 'crash-test-write-key';
const total = 20_000;
const perBatch = 20;

let db: TestDatabase;
let dir: string;
beforeAll(async () => {
  db = await createTestDatabase('crash');
  dir = mkdtempSync(join(tmpdir(), 'tagflow-crash-'));
});
afterAll(async () => {
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

function batchBody(first: number): string {
  const timestamp = new Date().toISOString();
  const batch = Array.from({ length: perBatch }, (_, k) => ({ type: 'track', event: 'Crash Test', anonymousId: `a-${first + k}`, messageId: `crash-${first + k}`, timestamp }));
  return JSON.stringify({ batch });
}

describe('kill -9 during a stream of acknowledged events', () => {
  it('loses no acknowledged event and stores each exactly once after the restart', async () => {
    const port = await freePort();
    // A slow shipper (large batches, 1 s interval) so the kill finds a backlog in the spool.
    const config = { port, database: db.database, sources: [{ id: 'crash', writeKey }], spool: { dir: join(dir, 'spool') }, shipper: { intervalMs: 1000, idleMs: 1000, maxRows: 4000 } };
    const holdingConfig = { ...config, shipper: { intervalMs: 600_000, idleMs: 600_000, maxRows: 1_000_000, maxBytes: 1024 ** 3 } };
    const env = { CLICKHOUSE_URL: db.url };
    let collector: CollectorProcess = await spawnCollector(dir, config, env);

    const pending = Array.from({ length: total / perBatch }, (_, i) => i * perBatch);
    const acknowledged = new Set<string>();
    let killed = false;
    let restarted: Promise<void> | undefined;
    let unacknowledgedAttempts = 0;
    let backlogAtKill = 0;
    let storedAtKill = 0;

    async function worker(): Promise<void> {
      for (let first = pending.shift(); first !== undefined; first = pending.shift()) {
        const response = await fetch(`http://127.0.0.1:${port}/v1/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}` },
          body: batchBody(first),
        }).catch(() => undefined);
        if (response?.status === 200) {
          for (let k = 0; k < perBatch; k++) acknowledged.add(`crash-${first + k}`);
        } else {
          // Not acknowledged (connection reset by the kill, or refused while down): send it again later.
          unacknowledgedAttempts += 1;
          pending.push(first);
          await restarted;
        }
        await response?.arrayBuffer();
        if (!killed && acknowledged.size >= total / 2) {
          killed = true;
          restarted = (async () => {
            const ackedAtKill = acknowledged.size;
            await collector.stop('SIGKILL');
            // An INSERT the killed process had already sent may still be running in ClickHouse and land after
            // a count taken now: wait until no insert into an events table runs before counting.
            await waitUntil(
              () => db.rows<{ n: number }>("SELECT count() AS n FROM system.processes WHERE query LIKE 'INSERT INTO events%'"),
              (r) => Number(r[0]?.n) === 0,
              30_000,
            );
            const stored = await db.rows<{ n: number }>("SELECT uniqExact(message_id) AS n FROM events WHERE message_id LIKE 'crash-%'");
            storedAtKill = stored[0]?.n ?? 0;
            backlogAtKill = ackedAtKill - storedAtKill;
            collector = await spawnCollector(dir, holdingConfig, env);
          })();
        }
      }
    }
    await Promise.all(Array.from({ length: 8 }, worker));
    await restarted;
    expect(killed).toBe(true);
    // Acknowledged events that were only in the spool when the process died: the restart must replay them.
    expect(backlogAtKill).toBeGreaterThan(0);
    expect(acknowledged.size).toBe(total);

    const distinct = () => db.rows<{ n: number }>("SELECT uniqExact(message_id) AS n FROM events WHERE message_id LIKE 'crash-%'");
    // The second process holds everything: replayed backlog and new events are still only in the spool.
    expect((await distinct())[0]?.n).toBe(storedAtKill);
    // A clean stop: SIGTERM ships what is spooled and exits 0.
    expect(await collector.stop('SIGTERM')).toBe(0);
    await waitUntil(distinct, (r) => r[0]?.n === total, 30_000);
    // The deduplicated view of the table (FINAL): each acknowledged id exactly once, nothing else.
    const ids = await db.rows<{ message_id: string }>("SELECT message_id FROM events FINAL WHERE message_id LIKE 'crash-%'");
    expect(ids).toHaveLength(total);
    expect(new Set(ids.map((r) => r.message_id))).toEqual(acknowledged);

    console.info(`crash test: ${backlogAtKill} acknowledged events only in the spool at the kill; ${unacknowledgedAttempts} requests not acknowledged and sent again`);
  }, 180_000);
});
