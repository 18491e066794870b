// The query API's capacity on real collectors and ClickHouse: at most limits.queryConcurrency expensive requests
// use ClickHouse at once, limits.queryQueue more wait in arrival order, the rest get 429 with Retry-After; every
// outcome gives its slot back; ClickHouse stops a query at limits.queryTimeoutSeconds and the answer is 504.
// A query "lasts" as long as the test wants: a gate in front of ClickHouse (test/support/clickhouse-gate.ts) holds
// it until the test lets it through, so no test depends on how long a query takes, except the timeout's, which
// reads enough generated rows to run for seconds without the limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultLimits } from '../config';
import type { RunningCollector } from '../main';
import { startClickHouseGate, type ClickHouseGate, type HeldQuery } from '../../test/support/clickhouse-gate';
import { createTestDatabase, waitUntil, type TestDatabase } from '../../test/support/clickhouse';
import { adminToken, clickhouseTimeoutText, isExportRowsQuery, queryLoad, seedOneMemberRun, startQueryCollector } from '../../test/support/query-api';

const call = (collector: RunningCollector, path: string, init: RequestInit = {}) =>
  fetch(`${collector.url}${path}`, { ...init, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' } });
/** A one-step funnel of `event`: the gate holds those whose event starts with `held-`. */
const funnel = (collector: RunningCollector, event: string, signal?: AbortSignal) =>
  call(collector, '/v1/query/funnel', { method: 'POST', body: JSON.stringify({ steps: [{ event }], windowSeconds: 60 }), ...(signal ? { signal } : {}) });
const isHeldFunnel = (sql: string) => sql.includes("event = 'held-");
const funnelOf = (query: HeldQuery | undefined) => /event = '(held-[^']*)'/.exec(query?.sql ?? '')?.[1];

const load = queryLoad;
const loadIs = (collector: RunningCollector, running: number, waiting: number) =>
  waitUntil(() => load(collector), (now) => now.running === running && now.waiting === waiting, 10_000);
const heldCount = (gate: ClickHouseGate, n: number) => waitUntil(async () => gate.held.length, (count) => count === n, 10_000);

let db: TestDatabase;
let gate: ClickHouseGate;
/** One slot, no queue. */
let single: RunningCollector;
/** One slot, two places in the queue. */
let queued: RunningCollector;

beforeAll(async () => {
  db = await createTestDatabase('capacity');
  gate = await startClickHouseGate(db.url);
  gate.hold(isHeldFunnel);
  single = await startQueryCollector(gate.url, db.database, { queryConcurrency: 1, queryQueue: 0 });
  queued = await startQueryCollector(gate.url, db.database, { queryConcurrency: 1, queryQueue: 2 });
});
afterAll(async () => {
  await single?.app.close();
  await queued?.app.close();
  await gate?.close();
  await db?.drop();
});

describe('query API concurrency', () => {
  it('refuses a second query with 429 and Retry-After while one holds the only slot, and runs the next one after', async () => {
    const first = funnel(single, 'held-first');
    await heldCount(gate, 1);
    const refused = await funnel(single, 'held-second');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('5');
    const body = (await refused.json()) as { error: string; message: string };
    expect(body.error).toBe('too_many_queries');
    expect(body.message).toContain('limits.queryConcurrency');
    // Refused before it reached ClickHouse.
    expect(gate.seen.some((request) => request.sql.includes("'held-second'"))).toBe(false);

    gate.held[0]?.release();
    expect((await first).status).toBe(200);
    const third = await funnel(single, 'Product Added');
    expect(third.status).toBe(200);
    expect(await third.json()).toEqual({ steps: [{ step: 1, persons: 0, conversion: 0 }] });
    const metrics = await (await fetch(`${single.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
    expect(metrics).toMatch(/^tagflow_requests_refused_total\{reason="too_many_queries"\} 1$/m);
    gate.held.length = 0;
  });

  it('runs queued queries in arrival order as slots free up, and refuses one past the queue', async () => {
    const a = funnel(queued, 'held-a');
    await heldCount(gate, 1);
    const b = funnel(queued, 'held-b');
    await loadIs(queued, 1, 1);
    const c = funnel(queued, 'held-c');
    await loadIs(queued, 1, 2);
    const full = await funnel(queued, 'held-d');
    expect(full.status).toBe(429);

    gate.held[0]?.release();
    await heldCount(gate, 2);
    expect(funnelOf(gate.held[1])).toBe('held-b');
    expect(await load(queued)).toEqual({ running: 1, waiting: 1 });
    gate.held[1]?.release();
    await heldCount(gate, 3);
    expect(funnelOf(gate.held[2])).toBe('held-c');
    gate.held[2]?.release();
    expect((await Promise.all([a, b, c])).map((response) => response.status)).toEqual([200, 200, 200]);
    await loadIs(queued, 0, 0);
    gate.held.length = 0;
  });

  it('takes a waiting request whose client went away out of the queue: its query never runs, its place is free', async () => {
    const a = funnel(queued, 'held-running');
    await heldCount(gate, 1);
    const leaving = new AbortController();
    const gone = funnel(queued, 'held-gone', leaving.signal);
    await loadIs(queued, 1, 1);
    leaving.abort();
    await expect(gone).rejects.toThrow();
    await loadIs(queued, 1, 0);
    // Both places are free again: two more wait.
    const next = funnel(queued, 'held-next');
    const last = funnel(queued, 'held-last');
    await loadIs(queued, 1, 2);

    gate.held[0]?.release();
    await heldCount(gate, 2);
    expect(funnelOf(gate.held[1])).toBe('held-next');
    gate.held[1]?.release();
    await heldCount(gate, 3);
    gate.held[2]?.release();
    expect((await Promise.all([a, next, last])).map((response) => response.status)).toEqual([200, 200, 200]);
    expect(gate.seen.some((request) => request.sql.includes("'held-gone'"))).toBe(false);
    gate.held.length = 0;
  });

  it('keeps the slot of a running query whose client went away until ClickHouse is done with it', async () => {
    const leaving = new AbortController();
    const running = funnel(single, 'held-abandoned', leaving.signal);
    await heldCount(gate, 1);
    leaving.abort();
    await expect(running).rejects.toThrow();
    // ClickHouse is still working on it (18.16 does not notice a closed connection before it writes).
    expect((await funnel(single, 'Product Added')).status).toBe(429);
    gate.held[0]?.release();
    await loadIs(single, 0, 0);
    expect((await funnel(single, 'Product Added')).status).toBe(200);
    gate.held.length = 0;
  });

  it('gives the slot back after a refusal inside it (404, 400) or outside it, and after a ClickHouse error', async () => {
    const unknown = await call(single, '/v1/segments/seg_unknown/members');
    expect(unknown.status).toBe(404);
    expect((await funnel(single, 'Product Added')).status).toBe(200);
    const badFormat = await call(single, '/v1/segments/builtin_repeat_buyers/export?format=pdf');
    expect(badFormat.status).toBe(400);
    expect((await call(single, '/v1/segments/builtin_repeat_buyers/members?limit=x')).status).toBe(400);
    expect((await call(single, '/v1/query/funnel', { method: 'POST', body: JSON.stringify({ steps: [] }) })).status).toBe(400);
    expect((await funnel(single, 'Product Added')).status).toBe(200);

    const failing = funnel(single, 'held-failing');
    await heldCount(gate, 1);
    gate.held[0]?.fail(500, 'Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded: would use 9.32 GiB, maximum: 9.31 GiB, e.what() = DB::Exception\n');
    const failed = await failing;
    expect(failed.status).toBe(507);
    expect(await failed.json()).toMatchObject({ error: 'query_memory_limit' });
    expect((await funnel(single, 'Product Added')).status).toBe(200);
    const broken = funnel(single, 'held-broken');
    await heldCount(gate, 2);
    gate.held[1]?.fail(500, "Code: 60, e.displayText() = DB::Exception: Table tagflow.person_events doesn't exist., e.what() = DB::Exception\n");
    const internal = await broken;
    expect(internal.status).toBe(500);
    expect(await internal.json()).toMatchObject({ error: 'internal' });
    expect((await funnel(single, 'Product Added')).status).toBe(200);
    expect(await load(single)).toEqual({ running: 0, waiting: 0 });
    gate.held.length = 0;
  });

  it('refuses a malformed page or export with its 400 while every slot is taken, not with a 429', async () => {
    const holding = funnel(single, 'held-busy');
    await heldCount(gate, 1);
    const badLimit = await call(single, '/v1/segments/builtin_repeat_buyers/members?limit=x');
    expect(badLimit.status).toBe(400);
    expect(await badLimit.json()).toMatchObject({ error: 'invalid_parameter' });
    expect((await call(single, '/v1/segments/builtin_repeat_buyers/members?run=not-a-run')).status).toBe(400);
    expect((await call(single, '/v1/segments/builtin_repeat_buyers/export?format=pdf')).status).toBe(400);
    expect((await call(single, '/v1/segments/builtin_repeat_buyers/export?consent=maybe')).status).toBe(400);
    // A well-formed one still waits its turn: no place in the queue, so 429.
    expect((await call(single, '/v1/segments/builtin_repeat_buyers/members')).status).toBe(429);
    gate.held[0]?.release();
    expect((await holding).status).toBe(200);
    await loadIs(single, 0, 0);
    gate.held.length = 0;
  });

  it('sends max_execution_time and max_memory_usage with the query API queries only, not with the shipper inserts', async () => {
    const sent = await fetch(`${single.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ writeKey: 'test-write-key', batch: [{ type: 'track', event: 'Settings Probe', anonymousId: 'probe' }] }),
    });
    expect(sent.status).toBe(200);
    await waitUntil(async () => gate.seen.filter((request) => request.sql.startsWith('INSERT INTO events ')), (inserts) => inserts.length > 0, 10_000);
    const inserts = gate.seen.filter((request) => request.sql.startsWith('INSERT INTO events '));
    expect(inserts.map((request) => request.params.get('max_execution_time'))).toEqual(inserts.map(() => null));
    expect(inserts.map((request) => request.params.get('max_memory_usage'))).toEqual(inserts.map(() => null));
    const funnels = gate.seen.filter((request) => request.sql.includes('step_1'));
    expect(funnels.length).toBeGreaterThan(0);
    expect(new Set(funnels.map((request) => request.params.get('max_execution_time')))).toEqual(new Set(['60']));
    expect(new Set(funnels.map((request) => request.params.get('max_memory_usage')))).toEqual(new Set([String(defaultLimits.queryMaxMemoryBytes)]));
  });
});

describe('a streamed export', () => {
  const segment = 'builtin_repeat_buyers';
  const isExportRows = isExportRowsQuery;
  const timeoutLine = clickhouseTimeoutText;

  beforeAll(async () => {
    // One member with an e-mail, in a completed run of the segment.
    await seedOneMemberRun(db, segment, 'a'.repeat(64));
  });

  it('holds its slot until its stream ends, and gives it back when its client goes away mid-stream', async () => {
    gate.hold(isExportRows);
    const exporting = call(single, `/v1/segments/${segment}/export`);
    // The rows' query is held (the answer starts with the first row, header line included).
    await heldCount(gate, 1);
    expect((await funnel(single, 'Product Added')).status).toBe(429);
    gate.held[0]?.release();
    const exported = await exporting;
    expect(exported.status).toBe(200);
    expect(await exported.text()).toBe(`Email,Phone\r\n${'a'.repeat(64)},\r\n`);
    expect((await funnel(single, 'Product Added')).status).toBe(200);

    // A client that goes away while its export streams gives the slot back.
    const leaving = new AbortController();
    const abandoning = call(single, `/v1/segments/${segment}/export`, { signal: leaving.signal });
    await heldCount(gate, 2);
    expect((await funnel(single, 'Product Added')).status).toBe(429);
    leaving.abort();
    await expect(abandoning).rejects.toThrow();
    await loadIs(single, 0, 0);
    expect((await funnel(single, 'Product Added')).status).toBe(200);
    gate.held[1]?.release();
    gate.held.length = 0;
  });

  it('answers 504 query_timeout when ClickHouse stops its rows before the first byte, and ends the file when after', async () => {
    const before = call(single, `/v1/segments/${segment}/export?format=vk`);
    await heldCount(gate, 1);
    gate.held[0]?.fail(500, timeoutLine);
    const timedOut = await before;
    expect(timedOut.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(timedOut.headers.get('content-disposition')).toBeNull();
    expect(timedOut.headers.get('x-tagflow-exported-persons')).toBeNull();
    expect(timedOut.status).toBe(504);
    const body = (await timedOut.json()) as { error: string; message: string };
    expect(body.error).toBe('query_timeout');
    expect(body.message).toMatch(/time limit of 60 seconds \(limits\.queryTimeoutSeconds\): narrow it/);
    expect((await funnel(single, 'Product Added')).status).toBe(200);

    // After the first byte the status is sent: the answer is cut short, never left hanging or ended as if whole.
    gate.appendTo(isExportRows, timeoutLine);
    const after = call(single, `/v1/segments/${segment}/export`);
    await heldCount(gate, 2);
    gate.held[1]?.release();
    const cut = await after;
    expect(cut.status).toBe(200);
    await expect(cut.text()).rejects.toThrow();
    await loadIs(single, 0, 0);
    expect((await funnel(single, 'Product Added')).status).toBe(200);
    gate.held.length = 0;
  });
});

describe('the query time limit', () => {
  let slowDb: TestDatabase;
  let limited: RunningCollector;
  beforeAll(async () => {
    slowDb = await createTestDatabase('timeout');
    limited = await startQueryCollector(slowDb.url, slowDb.database, { queryConcurrency: 1, queryQueue: 0, queryTimeoutSeconds: 1 });
    // 50,000 events of 10 KB properties: each step filter extracts a 10 KB value with a regular expression, about
    // 3 s of ClickHouse for the funnel below on 18.16 without a limit (more under load), read in many blocks, so
    // the 1-second limit is checked often while it runs.
    await slowDb.client.command({
      query: `INSERT INTO person_events_stored (person_id, person_key, node, node_key, bucket, message_id, source, type, event, timestamp, properties)
              SELECT concat('user:p', toString(number)), cityHash64(number), '', 0, 0, toString(number), 'web', 'track', 'Slow Event',
                     toDateTime(1700000000 + number, 'UTC'), '{"p":"${'x'.repeat(10_000)}"}'
              FROM numbers(50000)`,
      clickhouse_settings: { wait_end_of_query: 1 },
    });
  });
  afterAll(async () => {
    await limited?.app.close();
    await slowDb?.drop();
  });

  it('answers 504 query_timeout naming the limit when ClickHouse stops the query, and frees the slot', async () => {
    const steps = [0, 1].map((s) => ({ event: 'Slow Event', where: Array.from({ length: 20 }, (_, i) => ({ property: 'p', op: 'eq', value: `v${s}_${i}` })) }));
    const started = Date.now();
    const response = await call(limited, '/v1/query/funnel', { method: 'POST', body: JSON.stringify({ steps, windowSeconds: 86_400 }) });
    expect(response.status).toBe(504);
    expect(await response.json()).toEqual({
      error: 'query_timeout',
      message:
        "ClickHouse stopped the query at the query API's time limit of 1 seconds (limits.queryTimeoutSeconds): narrow it (a shorter from/to range, fewer steps or filters, a smaller segment) or raise the limit",
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await funnel(limited, 'Slow Event')).status).toBe(200);
    const metrics = await (await fetch(`${limited.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
    expect(metrics).toMatch(/^tagflow_requests_refused_total\{reason="query_timeout"\} 1$/m);
  });
});

describe('the query memory limit', () => {
  let tinyDb: TestDatabase;
  let tiny: RunningCollector;
  const limit = 1000;
  beforeAll(async () => {
    tinyDb = await createTestDatabase('memory');
    // ClickHouse itself, no gate: every query of the query API needs more than 1,000 bytes.
    tiny = await startQueryCollector(tinyDb.url, tinyDb.database, { queryConcurrency: 1, queryQueue: 0, queryMaxMemoryBytes: limit });
    await seedOneMemberRun(tinyDb, 'builtin_repeat_buyers', 'b'.repeat(64));
  });
  afterAll(async () => {
    await tiny?.app.close();
    await tinyDb?.drop();
  });

  it('answers 507 query_memory_limit naming limits.queryMaxMemoryBytes when ClickHouse stops a query at it, and frees the slot', async () => {
    const message =
      "ClickHouse stopped the query at a memory limit; the query API's is 1000 bytes (0.00 GiB, limits.queryMaxMemoryBytes): narrow it (a shorter from/to range, fewer steps or filters, a smaller segment) or raise the limit";
    // Twice: with one slot and no queue, a slot kept by the first would make the second a 429.
    for (let i = 0; i < 2; i++) {
      const response = await funnel(tiny, 'Product Added');
      expect(response.status).toBe(507);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(response.headers.get('retry-after')).toBeNull();
      expect(await response.json()).toEqual({ error: 'query_memory_limit', message });
    }
    const members = await call(tiny, '/v1/segments/builtin_repeat_buyers/members');
    expect(members.status).toBe(507);
    expect(await members.json()).toMatchObject({ error: 'query_memory_limit' });
    const exported = await call(tiny, '/v1/segments/builtin_repeat_buyers/export');
    expect(exported.status).toBe(507);
    expect(exported.headers.get('content-disposition')).toBeNull();
    expect(await exported.json()).toMatchObject({ error: 'query_memory_limit' });
    const materialized = await call(tiny, '/v1/segments/builtin_repeat_buyers/materialize', { method: 'POST' });
    expect(materialized.status).toBe(507);
    expect(await materialized.json()).toMatchObject({ error: 'query_memory_limit' });
    expect(await load(tiny)).toEqual({ running: 0, waiting: 0 });
    const metrics = await (await fetch(`${tiny.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
    expect(metrics).toMatch(/^tagflow_requests_refused_total\{reason="query_memory_limit"\} 5$/m);
  });
});
