// Fault tests with a ClickHouse server of this file's own (never the shared one), stopped and started here:
//  - ClickHouse down for 30 s under load: every request is still acknowledged from the spool, /readyz
//    says not ready, and after the restart every acknowledged event is in ClickHouse;
//  - ClickHouse down until the spool reaches its byte cap: 503 with Retry-After, the process's memory
//    stays bounded however much more is sent, and nothing acknowledged is lost once it drains.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ping, startClickHouseServer, type ClickHouseServer } from '../../scripts/clickhouse/server';
import { freePort } from '../../scripts/free-port';
import { waitUntil } from '../../test/support/clickhouse';
import { spawnCollector } from '../../test/support/collector-process';
import { createWarehouseClient, type ClickHouseClient } from '../warehouse/client';

const writeKey = 'outage-test-write-key';
const database = 'tagflow_outage';
let home: string;
let clickhouse: ClickHouseServer;
let client: ClickHouseClient;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'tagflow-outage-'));
  clickhouse = await startClickHouseServer({ home: join(home, 'clickhouse') });
  client = createWarehouseClient(clickhouse.url, database);
}, 60_000);
afterAll(async () => {
  await client?.close();
  await clickhouse?.kill();
  rmSync(home, { recursive: true, force: true });
}, 60_000);

async function distinctIds(prefix: string): Promise<Set<string>> {
  const result = await client.query({ query: `SELECT DISTINCT message_id FROM events WHERE message_id LIKE '${prefix}-%'`, format: 'JSONEachRow' });
  return new Set((await result.json<{ message_id: string }>()).map((r) => r.message_id));
}

/**
 * Stops the server abruptly (SIGKILL: a clean SIGTERM takes ClickHouse 18.16 up to 25 s under load, and a
 * crash is the harsher case: inserts may die half way). Resolves with the time it stopped answering.
 */
async function stopClickHouse(): Promise<number> {
  await clickhouse.kill();
  await waitUntil(() => ping(clickhouse.url, 200), (up) => !up);
  return Date.now();
}

const restartClickHouse = async () => {
  clickhouse = await startClickHouseServer({ home: join(home, 'clickhouse'), httpPort: clickhouse.httpPort, tcpPort: clickhouse.tcpPort });
};

/**
 * A sender of 20-event batches; `padBytes` of random filler per event (base64: the spool's deflate
 * cannot shrink it below 3/4) makes requests as large as wanted.
 */
function sender(url: string, prefix: string, padBytes = 0) {
  let next = 0;
  const acknowledged = new Set<string>();
  const statuses = new Map<number, number>();
  const retryAfter = new Set<string | null>();
  const pad = () => randomBytes(Math.ceil((padBytes * 3) / 4)).toString('base64').slice(0, padBytes);
  async function send(): Promise<number> {
    const first = next;
    next += 20;
    const batch = Array.from({ length: 20 }, (_, k) => ({ type: 'track', event: 'Outage Test', anonymousId: 'a', messageId: `${prefix}-${first + k}`, properties: { pad: pad() } }));
    const response = await fetch(`${url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}` },
      body: JSON.stringify({ batch }),
    });
    await response.arrayBuffer();
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    if (response.status === 200) for (let k = 0; k < 20; k++) acknowledged.add(`${prefix}-${first + k}`);
    if (response.status === 503) retryAfter.add(response.headers.get('retry-after'));
    return response.status;
  }
  return { send, acknowledged, statuses, retryAfter };
}

describe('ClickHouse outages', () => {
  it('keeps acknowledging while ClickHouse is down for 30 s under load, and loses nothing', async () => {
    const port = await freePort();
    const collector = await spawnCollector(
      home,
      { port, database, sources: [{ id: 'outage', writeKey }], spool: { dir: join(home, 'spool-1') }, shipper: { intervalMs: 200, maxBackoffMs: 1000 } },
      { CLICKHOUSE_URL: clickhouse.url },
    );
    const load = sender(collector.url, 'down30');
    let running = true;
    // About 50 requests (1,000 events) a second, bounded by the scenario's length.
    const loop = (async () => {
      while (running) {
        await load.send();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    await waitUntil(async () => (await distinctIds('down30')).size, (n) => n >= 500);
    const downSince = await stopClickHouse();
    const ready = await waitUntil(() => fetch(`${collector.url}/readyz`).then(async (r) => ({ status: r.status, body: (await r.json()) as unknown })), (r) => r.status === 503);
    expect(ready.body).toMatchObject({ clickhouse: false, spool: true });
    const ackedBeforeOutage = load.acknowledged.size;
    // The outage lasts 30 s by the scenario; load keeps flowing meanwhile.
    await waitUntil(async () => Date.now() - downSince, (ms) => ms >= 30_000, 40_000);
    expect(load.acknowledged.size).toBeGreaterThan(ackedBeforeOutage + 2000);

    await restartClickHouse();
    running = false;
    await loop;
    expect([...load.statuses.keys()]).toEqual([200]);
    const stored = await waitUntil(() => distinctIds('down30'), (ids) => ids.size >= load.acknowledged.size, 60_000);
    expect(stored).toEqual(load.acknowledged);
    expect((await fetch(`${collector.url}/readyz`)).status).toBe(200);
    expect(await collector.stop('SIGTERM')).toBe(0);
  }, 150_000);

  it('answers 503 with Retry-After at the spool cap, keeps memory bounded, and loses nothing after draining', async () => {
    const port = await freePort();
    const capBytes = 4 * 1024 * 1024;
    const collector = await spawnCollector(
      home,
      { port, database, sources: [{ id: 'outage', writeKey }], spool: { dir: join(home, 'spool-2'), maxBytes: capBytes, segmentBytes: 1024 * 1024 }, shipper: { intervalMs: 200, maxBackoffMs: 1000 } },
      { CLICKHOUSE_URL: clickhouse.url },
    );
    await stopClickHouse();
    const baselineRss = collector.rss();

    // 20 events of 10 KB each: about 200 KB a request, 8 requests at a time.
    const load = sender(collector.url, 'cap', 10 * 1024);
    let sentBytes = 0;
    let peakRss = 0;
    let peakAtFirstThird = 0;
    const offered = 300 * 1024 * 1024;
    const worker = async () => {
      // Far more than the cap: 300 MB offered to a spool of 4 MB.
      while (sentBytes < offered) {
        sentBytes += 20 * 10 * 1024;
        await load.send();
        peakRss = Math.max(peakRss, collector.rss());
        if (sentBytes <= offered / 3) peakAtFirstThird = peakRss;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));

    expect(load.statuses.get(503) ?? 0).toBeGreaterThan(1000);
    expect([...load.retryAfter]).toEqual(['5']);
    // Each acknowledged event holds at least 3/4 of its 10 KB of random filler in the spool.
    expect(load.acknowledged.size * 7.5 * 1024).toBeLessThanOrEqual(capBytes);
    expect(load.acknowledged.size).toBeGreaterThan(0);
    // Bounded: the process never holds the refused traffic (300 MB), and its memory stops growing: the
    // last 200 MB offered add little to what the first 100 MB did.
    expect(peakRss - baselineRss).toBeLessThan(150 * 1024 * 1024);
    expect(peakRss - peakAtFirstThird).toBeLessThan(40 * 1024 * 1024);

    await restartClickHouse();
    const stored = await waitUntil(() => distinctIds('cap'), (ids) => ids.size >= load.acknowledged.size, 60_000);
    expect(stored).toEqual(load.acknowledged);
    // Drained: the spool takes events again.
    expect(await waitUntil(() => load.send(), (status) => status === 200)).toBe(200);
    expect(await collector.stop('SIGTERM')).toBe(0);
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
    console.info(`spool cap test: ${load.statuses.get(503)} requests refused with 503; RSS ${mb(baselineRss)} MB before, ${mb(peakAtFirstThird)} MB after 100 MB offered, ${mb(peakRss)} MB after 300 MB`);
  }, 150_000);
});
