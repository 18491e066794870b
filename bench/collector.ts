// `npm run bench -- collector`: the collector end to end (HTTP → validation → spool with fsync → shipper →
// ClickHouse) against the ceiling: the same events inserted straight into ClickHouse by this script.
// All traffic goes to 127.0.0.1 and is bounded by request counts.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { processBatch } from '../collector/ingest/process';
import { defaultLimits } from '../collector/config';
import { createWarehouseClient } from '../collector/warehouse/client';
import type { EventRow } from '../collector/ingest/normalize';
import { clickhouseWarehouse } from '../collector/warehouse/events';
import { linesWriter } from '../collector/warehouse/lines';
import { eventLine } from '../collector/warehouse/row-text';
import { migrate } from '../collector/warehouse/migrate';
import { ensureClickHouse } from '../scripts/clickhouse/server';
import { freePort } from '../scripts/free-port';
import { spawnCollector } from '../test/support/collector-process';
import { describeLatencies, startDiskProbe } from './disk-probe';
import { httpLoad, quantile } from './http-load';
import { startNullServer } from './null-server';

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

function normalisedRows(): EventRow[] {
  return Array.from({ length: requests }, (_, i) =>
    processBatch({ events: batch('ceiling', i), sentAt: undefined, writeKey: undefined, context: {}, contextBytes: 0 }, { source: 'bench', consentPolicy: 'strip', receivedAt: Date.now(), ip: '127.0.0.0', keepFullIp: false, userAgent }, defaultLimits).rows,
  ).flat();
}

/** Events/s inserting `totalEvents` normalised rows straight into ClickHouse with @clickhouse/client, 10,000 rows per insert (the shipper's default). */
async function ceiling(url: string, database: string): Promise<number> {
  const rows = normalisedRows();
  const warehouse = clickhouseWarehouse(createWarehouseClient(url, database));
  const started = performance.now();
  for (let i = 0; i < rows.length; i += 10_000) await warehouse.insertEvents(rows.slice(i, i + 10_000));
  const seconds = (performance.now() - started) / 1000;
  await warehouse.close();
  return rows.length / seconds;
}

/** For reference: ClickHouse alone taking the same rows as TabSeparated bytes made before the clock starts. */
async function clickhouseAlone(url: string, database: string): Promise<number> {
  const rows = normalisedRows();
  const chunks: Buffer[] = [];
  for (let i = 0; i < rows.length; i += 10_000) chunks.push(Buffer.from(rows.slice(i, i + 10_000).map(eventLine).join('')));
  const client = createWarehouseClient(url, database);
  const writer = linesWriter(client);
  const started = performance.now();
  for (const chunk of chunks) await writer.insertLines('events', 'TabSeparated', [chunk]);
  const seconds = (performance.now() - started) / 1000;
  await client.close();
  return rows.length / seconds;
}

const headers = { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, 'user-agent': userAgent };
const body = (prefix: string, index: number) => JSON.stringify({ batch: batch(prefix, index), sentAt: new Date().toISOString() });



/** GET /metrics needs the admin token; the bench's collector gets this one. */
const adminToken = `bench-admin-${randomBytes(12).toString('hex')}`;
const scrapeMetrics = async (url: string): Promise<string> => (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();

/** The collector's own CPU seconds so far (user + system), from its /metrics. */
async function collectorCpuSeconds(url: string): Promise<number> {
  const text = await scrapeMetrics(url);
  return Number(/^tagflow_process_cpu_seconds_total (\S+)$/m.exec(text)?.[1] ?? NaN);
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
    const aloneRate = await clickhouseAlone(clickhouse.url, ceilingDb);

    const port = await freePort();
    const collector = await spawnCollector(
      dir,
      { port, database: e2eDb, adminToken, sources: [{ id: 'bench', writeKey, rateLimit: { requestsPerSecond: 1_000_000, burst: 1_000_000 } }], spool: { dir: join(dir, 'spool') } },
      { CLICKHOUSE_URL: clickhouse.url },
    );
    let peakRss = collector.rss();
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, collector.rss())), 50);
    try {
      const cpuAtStart = await collectorCpuSeconds(collector.url);
      const throughput = await httpLoad({ url: `${collector.url}/v1/batch`, requests, connections, headers, body: (index) => body('e2e', index) });
      const stored = await poll(() => count(clickhouse.url, e2eDb), (n) => n >= totalEvents, 120_000);
      const endToEnd = stored / ((performance.now() - throughput.startedAt) / 1000);
      const throughputOk = throughput.statuses.get(200) ?? 0;
      const acknowledgedRate = (throughputOk * eventsPerBatch) / throughput.seconds;
      // Includes the shipper's work for these events (read, insert).
      const cpuPerRequestEndToEnd = ((await collectorCpuSeconds(collector.url)) - cpuAtStart) / requests;

      // The fixed rate, with the disk's own O_DSYNC latency measured beside it (a 2 KB write every 5 ms
      // into blocks that already hold zeros, as the spool's group commits write into zero-filled segments).
      const cpuBefore = await collectorCpuSeconds(collector.url);
      const probe = await startDiskProbe(join(dir, 'disk-probe.bin'), 2048, 5);
      const steady = await httpLoad({ url: `${collector.url}/v1/batch`, rate: fixedRate, requests: fixedRateRequests, connections, headers, body: (index) => body('rate', index) });
      const disk = await probe.stop();
      const cpuPerRequest = ((await collectorCpuSeconds(collector.url)) - cpuBefore) / fixedRateRequests;
      // The same paced load against a server that does nothing, while ClickHouse takes the collector's tail.
      const nullServer = await startNullServer();
      const floor = await httpLoad({ url: `${nullServer.url}/v1/batch`, rate: fixedRate, requests: fixedRateRequests, connections, headers, body: (index) => body('floor', index) }).finally(() => nullServer.stop());
      await poll(() => count(clickhouse.url, e2eDb), (n) => n >= totalEvents + fixedRateRequests * eventsPerBatch, 120_000);
      clearInterval(sampler);
      const metrics = await scrapeMetrics(collector.url);
      const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
      const commits = metric('tagflow_spool_commit_duration_seconds_count');
      const commitMs = (metric('tagflow_spool_commit_duration_seconds_sum') / commits) * 1000;
      const perCommit = metric('tagflow_spool_records_total') / commits;
      const exitCode = await collector.stop('SIGTERM');
      const steadyOk = steady.statuses.get(200) ?? 0;

      const ratio = endToEnd / ceilingRate;
      const ms = (value: number) => (value < 10 ? value.toFixed(1) : value.toFixed(0));
      return [
        `${requests.toLocaleString('en')} requests of ${eventsPerBatch} events (${totalEvents.toLocaleString('en')} events) at ${connections} concurrent connections (closed loop, 127.0.0.1; \`bench/http-load.ts\` makes every request's bytes before the clock starts), then ${fixedRateRequests.toLocaleString('en')} requests at a fixed ${fixedRate.toLocaleString('en')} requests/s, evenly paced (one every millisecond, open loop; latency counted from when each request was due). The collector runs as its own process (\`node --import tsx collector/main.ts\`) with default settings: every acknowledged request is fsynced to the spool first; the shipper inserts up to 10,000 rows per insert. Ceiling: the same ${totalEvents.toLocaleString('en')} events, already normalised, inserted straight into ClickHouse by the bench with @clickhouse/client (row objects as JSONEachRow, as an application inserts them) in inserts of 10,000 rows; the reference row below leaves out all client work and shows ClickHouse's own rate. ClickHouse ${'18.16'} shares the machine.`,
        '',
        '| measure | value |',
        '|---|---:|',
        `| ceiling: straight inserts into ClickHouse | ${Math.round(ceilingRate).toLocaleString('en')} events/s |`,
        `| collector end to end (first request → last row in ClickHouse) | ${Math.round(endToEnd).toLocaleString('en')} events/s |`,
        `| **end to end / ceiling** | **${(ratio * 100).toFixed(0)}%** |`,
        `| for reference: ClickHouse alone, the same rows as TabSeparated bytes made before the clock starts (end to end / this) | ${Math.round(aloneRate).toLocaleString('en')} events/s (${((endToEnd / aloneRate) * 100).toFixed(0)}%) |`,
        `| acknowledged (200) by the collector | ${Math.round(acknowledgedRate).toLocaleString('en')} events/s (${Math.round(throughputOk / throughput.seconds).toLocaleString('en')} requests/s) |`,
        `| acknowledgement latency p50 / p99 at ${connections} connections | ${ms(quantile(throughput.latencies, 0.5))} ms / ${ms(quantile(throughput.latencies, 0.99))} ms |`,
        `| collector CPU per request at ${connections} connections, its shipping included (user + system) | ${(cpuPerRequestEndToEnd * 1000).toFixed(2)} ms |`,
        `| acknowledgement latency p50 / p90 / **p99** / max at ${fixedRate.toLocaleString('en')} requests/s, evenly paced | ${ms(quantile(steady.latencies, 0.5))} / ${ms(quantile(steady.latencies, 0.9))} / **${ms(quantile(steady.latencies, 0.99))}** / ${ms(quantile(steady.latencies, 1))} ms |`,
        `| the disk alone meanwhile: one 2 KB O_DSYNC write into zeroed blocks every 5 ms, p50 / p99 / max | ${describeLatencies(disk)} |`,
        `| floor: the same paced load against a server that answers at once (\`bench/null-server.ts\`), p50 / p90 / p99 / max | ${ms(quantile(floor.latencies, 0.5))} / ${ms(quantile(floor.latencies, 0.9))} / ${ms(quantile(floor.latencies, 0.99))} / ${ms(quantile(floor.latencies, 1))} ms |`,
        `| collector CPU per request at ${fixedRate.toLocaleString('en')} requests/s (user + system) | ${(cpuPerRequest * 1000).toFixed(2)} ms |`,
        `| load generator behind its schedule at worst (paced phase) | ${ms(steady.maxLateness)} ms |`,
        `| non-2xx answers, connection errors (collector) | ${requests - throughputOk - throughput.errors + fixedRateRequests - steadyOk - steady.errors}, ${throughput.errors + steady.errors} |`,
        `| spool group commits (one O_DSYNC write each) | ${commits.toLocaleString('en')}, ${perCommit.toFixed(1)} requests each, ${commitMs.toFixed(1)} ms on average |`,
        `| collector peak RSS | ${Math.round(peakRss / 2 ** 20)} MB |`,
        `| exit code after SIGTERM | ${String(exitCode)} |`,
        `| machine load average (1 min) before / after | ${loadBefore.toFixed(1)} / ${(loadavg()[0] ?? 0).toFixed(1)} |`,
        '',
        'How to read it. Every acknowledgement waits for an `O_DSYNC` write of its group (the request\'s rows as TabSeparated text, about 13 KB) and for the event loop to take up that write\'s completion, so the ack latency is the disk row above plus the CPU time of the requests being handled meanwhile and the garbage collector\'s pauses, on top of the floor row (what the generator and the machine add to any answer). The collector\'s CPU per request (JSON parse, validation, enrichment, row text, HTTP: the CPU rows above) runs on one thread, and the load generator, ClickHouse and whatever else runs on the machine share its 2 cores: the load average row says how busy they were. End to end ends with the shipper\'s last batch, inserted once nothing new was spooled for `shipper.idleMs` (100 ms). See `tagflow_spool_commit_duration_seconds` and `tagflow_nodejs_eventloop_lag_seconds` in `/metrics`.',
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
