// `npm run bench -- collector`: the collector end to end (HTTP → validation → spool with fsync → shipper →
// ClickHouse) against the ceiling: the same events inserted straight into ClickHouse by this script.
// All traffic goes to 127.0.0.1 and is bounded by request counts.
import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { processBatch } from '../collector/ingest/process';
import { defaultLimits } from '../collector/config';
import { createWarehouseClient } from '../collector/warehouse/client';
import { clickhouseWarehouse } from '../collector/warehouse/events';
import { migrate } from '../collector/warehouse/migrate';
import { ensureClickHouse } from '../scripts/clickhouse/server';
import { freePort } from '../scripts/free-port';
import { spawnCollector } from '../test/support/collector-process';

const eventsPerBatch = 20;
const requests = 5000;
const totalEvents = requests * eventsPerBatch;
const connections = 50;
const fixedRate = 1000;
const fixedRateRequests = 10_000;
const writeKey = 'bench-write-key-0001';
const userAgent = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

/** One request's worth of events, like the browser SDK sends them. */
function batch(prefix: string, index: number): unknown[] {
  const timestamp = new Date().toISOString();
  return Array.from({ length: eventsPerBatch }, (_, k) => ({
    type: 'track',
    event: 'Product Added',
    messageId: `${prefix}-${index}-${k}`,
    anonymousId: `anon-${index % 997}`,
    timestamp,
    properties: { product_id: `sku-${k}`, price: 19.9, quantity: 1, currency: 'EUR' },
    context: { library: { name: 'tagflow', version: '0.1.0' }, page: { path: '/p', url: 'https://shop.example/p', title: 'P' }, userAgent, locale: 'en-US' },
  }));
}

async function count(url: string, database: string): Promise<number> {
  const client = createWarehouseClient(url, database);
  try {
    const result = await client.query({ query: 'SELECT count() AS n FROM events', format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
    const [row] = await result.json<{ n: number }>();
    return row?.n ?? 0;
  } finally {
    await client.close();
  }
}

async function poll<T>(check: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Events/s inserting `totalEvents` rows straight into ClickHouse, 10,000 rows per insert (the shipper's default). */
async function ceiling(url: string, database: string): Promise<number> {
  const rows = Array.from({ length: requests }, (_, i) =>
    processBatch({ events: batch('ceiling', i), sentAt: undefined, writeKey: undefined, context: {} }, { source: 'bench', consentPolicy: 'strip', receivedAt: Date.now(), ip: '127.0.0.0', keepFullIp: false, userAgent }, defaultLimits).rows,
  ).flat();
  const warehouse = clickhouseWarehouse(createWarehouseClient(url, database));
  const started = performance.now();
  for (let i = 0; i < rows.length; i += 10_000) await warehouse.insertEvents(rows.slice(i, i + 10_000));
  const seconds = (performance.now() - started) / 1000;
  await warehouse.close();
  return rows.length / seconds;
}

function load(url: string, options: Partial<autocannon.Options>, prefix: string): Promise<autocannon.Result> {
  let index = 0;
  return autocannon({
    url: `${url}/v1/batch`,
    method: 'POST',
    connections,
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, 'user-agent': userAgent },
    requests: [{ setupRequest: (request) => ({ ...request, body: JSON.stringify({ batch: batch(prefix, index++), sentAt: new Date().toISOString() }) }) }],
    ...options,
  });
}

export async function collectorSection(root: string): Promise<string> {
  const clickhouse = await ensureClickHouse();
  const suffix = randomBytes(3).toString('hex');
  const ceilingDb = `tf_bench_ceiling_${suffix}`;
  const e2eDb = `tf_bench_e2e_${suffix}`;
  await migrate(clickhouse.url, ceilingDb);
  await migrate(clickhouse.url, e2eDb);
  mkdirSync(join(root, 'bench', '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(root, 'bench', '.tmp', 'collector-'));
  const admin = createWarehouseClient(clickhouse.url);
  try {
    const loadBefore = loadavg()[0] ?? 0;
    const ceilingRate = await ceiling(clickhouse.url, ceilingDb);

    const port = await freePort();
    const collector = await spawnCollector(
      dir,
      { port, database: e2eDb, sources: [{ id: 'bench', writeKey, rateLimit: { requestsPerSecond: 1_000_000, burst: 1_000_000 } }], spool: { dir: join(dir, 'spool') } },
      { CLICKHOUSE_URL: clickhouse.url },
    );
    let peakRss = collector.rss();
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, collector.rss())), 50);
    try {
      const started = performance.now();
      const throughput = await load(collector.url, { amount: requests }, 'e2e');
      const acknowledgedAt = performance.now();
      const stored = await poll(() => count(clickhouse.url, e2eDb), (n) => n >= totalEvents, 120_000);
      const endToEnd = stored / ((performance.now() - started) / 1000);
      const acknowledgedRate = (throughput['2xx'] * eventsPerBatch) / ((acknowledgedAt - started) / 1000);

      const steady = await load(collector.url, { amount: fixedRateRequests, overallRate: fixedRate }, 'rate');
      await poll(() => count(clickhouse.url, e2eDb), (n) => n >= totalEvents + fixedRateRequests * eventsPerBatch, 120_000);
      clearInterval(sampler);
      const metrics = await (await fetch(`${collector.url}/metrics`)).text();
      const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
      const commits = metric('tagflow_spool_commit_duration_seconds_count');
      const commitMs = (metric('tagflow_spool_commit_duration_seconds_sum') / commits) * 1000;
      const perCommit = metric('tagflow_spool_records_total') / commits;
      const exitCode = await collector.stop('SIGTERM');

      const ratio = endToEnd / ceilingRate;
      return [
        `${requests.toLocaleString('en')} requests of ${eventsPerBatch} events (${totalEvents.toLocaleString('en')} events) at ${connections} concurrent connections (autocannon, 127.0.0.1), then ${fixedRateRequests.toLocaleString('en')} requests at a fixed ${fixedRate.toLocaleString('en')} requests/s. The collector runs as its own process (\`node --import tsx collector/main.ts\`) with default settings: every acknowledged request is fsynced to the spool first; the shipper inserts up to 10,000 rows per insert. Ceiling: the same ${totalEvents.toLocaleString('en')} events, already normalised, inserted straight into ClickHouse by the bench in inserts of 10,000 rows. ClickHouse ${'18.16'} shares the machine.`,
        '',
        '| measure | value |',
        '|---|---:|',
        `| ceiling: straight inserts into ClickHouse | ${Math.round(ceilingRate).toLocaleString('en')} events/s |`,
        `| collector end to end (first request → last row in ClickHouse) | ${Math.round(endToEnd).toLocaleString('en')} events/s |`,
        `| **end to end / ceiling** | **${(ratio * 100).toFixed(0)}%** |`,
        `| acknowledged (200) by the collector | ${Math.round(acknowledgedRate).toLocaleString('en')} events/s (${Math.round(throughput.requests.average).toLocaleString('en')} requests/s) |`,
        `| acknowledgement latency p50 / p99 at ${connections} connections | ${throughput.latency.p50} ms / ${throughput.latency.p99} ms |`,
        `| acknowledgement latency p50 / p99 at ${fixedRate.toLocaleString('en')} requests/s | ${steady.latency.p50} ms / ${steady.latency.p99} ms |`,
        `| non-2xx answers, errors, timeouts | ${throughput.non2xx + steady.non2xx}, ${throughput.errors + steady.errors}, ${throughput.timeouts + steady.timeouts} |`,
        `| spool group commits (one O_DSYNC write each) | ${commits.toLocaleString('en')}, ${perCommit.toFixed(1)} requests each, ${commitMs.toFixed(1)} ms on average |`,
        `| collector peak RSS | ${Math.round(peakRss / 2 ** 20)} MB |`,
        `| exit code after SIGTERM | ${String(exitCode)} |`,
        `| machine load average (1 min) before / after | ${loadBefore.toFixed(1)} / ${(loadavg()[0] ?? 0).toFixed(1)} |`,
        '',
        'Acknowledgement latency is bounded below by the spool\'s group commit (an `O_DSYNC` write, about 0.2 ms on this disk when idle) plus the event-loop turns it waits for: on this machine the collector\'s CPU per request (JSON parse, validation, enrichment, JSON rows for the spool), the load generator and ClickHouse share 2 cores, so a commit averages several milliseconds. End to end also includes the shipper\'s last partial batch, which waits up to `shipper.intervalMs` (1 s) after its first record. See `tagflow_spool_commit_duration_seconds` and `tagflow_nodejs_eventloop_lag_seconds` in `/metrics`.',
      ].join('\n');
    } finally {
      clearInterval(sampler);
      await collector.stop('SIGTERM');
    }
  } finally {
    for (const database of [ceilingDb, e2eDb]) await admin.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await admin.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
