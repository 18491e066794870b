// The query API's capacity at its edges (HEAD, exports stopped or stalled, very long limits), beside
// query-capacity.test.ts. Same set-up: a gate
// in front of ClickHouse holds the queries a test picks, so nothing here depends on how long a query takes.
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCollector } from '../main';
import { startClickHouseGate, type ClickHouseGate } from '../../test/support/clickhouse-gate';
import { createTestDatabase, waitUntil, type TestDatabase } from '../../test/support/clickhouse';
import { adminToken, clickhouseTimeoutText, isExportRowsQuery, queryLoad, seedOneMemberRun, startQueryCollector } from '../../test/support/query-api';

const segment = 'builtin_repeat_buyers';
const hash = 'a'.repeat(64);

let db: TestDatabase;
let gate: ClickHouseGate;
/** One slot, no queue. */
let single: RunningCollector;
/** A response a test may leave unread when it fails. */
let leftover: Response | undefined;

const call = (path: string, init: RequestInit = {}) => fetch(`${single.url}${path}`, { ...init, headers: { authorization: `Bearer ${adminToken}` } });
const isExportRows = isExportRowsQuery;
const timeoutText = clickhouseTimeoutText;

const load = () => queryLoad(single);

beforeAll(async () => {
  db = await createTestDatabase('capacity_edges');
  gate = await startClickHouseGate(db.url);
  single = await startQueryCollector(gate.url, db.database, { queryConcurrency: 1, queryQueue: 0 });
  // One member with an e-mail, in a completed run of the segment.
  await seedOneMemberRun(db, segment, hash);
});
/** After a failed test: lets what it left held finish, and reads what it left unread, so the next starts afresh. */
async function tidy(): Promise<void> {
  for (const held of gate?.held ?? []) held.release();
  await leftover?.text().catch(() => undefined);
  leftover = undefined;
  if (gate) gate.held.length = 0;
  if (single) await waitUntil(load, (now) => now.running === 0 && now.waiting === 0, 10_000);
}
afterEach(tidy);
afterAll(async () => {
  await tidy();
  await single?.app.close();
  await gate?.close();
  await db?.drop();
});

describe('an export asked with HEAD', () => {
  it('answers the GET headers without running the rows query (which would run outside any slot)', async () => {
    gate.hold(isExportRows);
    // Marked by a marketing id, so that its queries can be told from the GET's below.
    const head = await call(`/v1/segments/${segment}/export?marketingConsentIds=HEADPROBE`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(head.headers.get('x-tagflow-exported-persons')).toBe('1');
    expect(await load()).toEqual({ running: 0, waiting: 0 });

    // A GET export now takes the only slot; its rows query reaches the gate after the HEAD's would have.
    const getting = call(`/v1/segments/${segment}/export`);
    await waitUntil(async () => gate.held.filter((q) => !q.sql.includes('headprobe')).length, (n) => n === 1, 10_000);
    // Before the fix, the HEAD's rows query was in ClickHouse (here: held by the gate) with no slot taken:
    // any number of HEADs ran exports at once, past limits.queryConcurrency and limits.queryQueue.
    expect(gate.seen.filter((q) => isExportRows(q.sql) && q.sql.includes('headprobe'))).toEqual([]);
    for (const held of gate.held) held.release();
    gate.held.length = 0;
    const get = await getting;
    leftover = get;
    expect(get.status).toBe(200);
    expect(await get.text()).toBe(`Email,Phone\r\n${hash},\r\n`);
  });
});

describe('an export whose rows query ClickHouse stops before its first row', () => {
  it.each(['google', 'yandex', 'meta', 'vk'])('answers 504 query_timeout in the %s format, not a 200 file cut short', async (format) => {
    gate.hold(isExportRows);
    const answer = call(`/v1/segments/${segment}/export?format=${format}`);
    await waitUntil(async () => gate.held.length, (n) => n === 1, 10_000);
    gate.held[0]?.fail(500, timeoutText);
    // Answered: not to be released later.
    gate.held.length = 0;
    const response = await answer;
    leftover = response;
    // Before the fix: 200 for the formats with a header line (sent before the rows query ran), then a cut download.
    expect(response.status).toBe(504);
    expect(response.headers.get('content-disposition')).toBeNull();
    expect(await response.json()).toMatchObject({ error: 'query_timeout' });
    expect(await load()).toEqual({ running: 0, waiting: 0 });
  });
});

describe('an export whose client goes away before its first row', () => {
  it('is no error: logged at debug naming the client that left, counted as client_closed_request, its slot given back', async () => {
    const lines: Array<{ level: number; msg: string; err?: { message?: string } }> = [];
    const logger = { level: 'debug', stream: { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) } };
    const logged = await startQueryCollector(gate.url, db.database, { queryConcurrency: 1, queryQueue: 0 }, logger);
    try {
      gate.hold(isExportRows);
      const leaving = new AbortController();
      const abandoning = fetch(`${logged.url}/v1/segments/${segment}/export`, { headers: { authorization: `Bearer ${adminToken}` }, signal: leaving.signal });
      await waitUntil(async () => gate.held.length, (n) => n === 1, 10_000);
      leaving.abort();
      await expect(abandoning).rejects.toThrow();
      await waitUntil(() => queryLoad(logged), (now) => now.running === 0 && now.waiting === 0, 10_000);
      const metrics = await (await fetch(`${logged.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
      // Pino's levels: 50 error, 40 warn, 30 info, 20 debug. Before the fix: a 500 logged at error ("request failed",
      // AbortError) and counted as internal.
      expect(lines.filter((line) => line.level >= 40)).toEqual([]);
      expect(lines).toContainEqual(expect.objectContaining({ level: 20, msg: expect.stringMatching(/client closed the connection/) }));
      expect(metrics).toMatch(/^tagflow_requests_refused_total\{reason="client_closed_request"\} 1$/m);
      expect(metrics).not.toMatch(/reason="internal"/);
    } finally {
      await logged.app.close();
    }
  });
});

describe('a very long query time limit', () => {
  it('is taken without a TimeoutOverflowWarning on every query (the HTTP timeout to ClickHouse stays within a timer)', async () => {
    const huge = 3_000_000; // seconds: about 35 days, a whole number as the config takes
    const other = await startQueryCollector(db.url, db.database, { queryTimeoutSeconds: huge });
    const warnings: string[] = [];
    const onWarning = (warning: Error) => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const response = await fetch(`${other.url}/v1/query/funnel`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ steps: [{ event: 'Product Added' }], windowSeconds: 60 }),
      });
      expect(response.status).toBe(200);
      // A warning is emitted on the next tick of the call that caused it.
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.startsWith('TimeoutOverflowWarning'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await other.app.close();
    }
  });
});

describe('an export whose client stops reading but keeps its connection', () => {
  it('gives its slot back once its rows query is over (here: abandoned at the HTTP timeout to ClickHouse)', async () => {
    // Enough members that the CSV (about 13 MB) cannot all wait in the sockets' buffers.
    const big = 'builtin_lapsed_customers';
    const members = 200_000;
    await db.client.command({
      query: `INSERT INTO identities (identifier, valid_from, person_id, mapped_at, version)
              SELECT concat('email:', lower(hex(SHA256(toString(number))))), toDateTime(0, 'UTC'), concat('user:big', toString(number)), toDateTime('2026-01-01 00:00:00', 'UTC'), 1
              FROM numbers(${members})`,
      clickhouse_settings: { wait_end_of_query: 1 },
    });
    await db.client.command({
      query: `INSERT INTO segment_members (segment_id, run, run_token, person_id, computed_at)
              SELECT '${big}', 1, 't', concat('user:big', toString(number)), toDateTime('2026-01-01 00:00:00', 'UTC') FROM numbers(${members})`,
      clickhouse_settings: { wait_end_of_query: 1 },
    });
    await db.client.insert({
      table: 'segment_runs',
      values: [{ segment_id: big, run: 1, run_token: 't', computed_at: '2026-01-01 00:00:00', members, entered_count: members, left_count: 0 }],
      format: 'JSONEachRow',
    });
    // Its own collector, with the shortest HTTP timeout to ClickHouse: 60 s (limits.queryTimeoutSeconds 1).
    const stalled = await startQueryCollector(db.url, db.database, { queryConcurrency: 1, queryQueue: 0, queryTimeoutSeconds: 1 });
    const running = async () => (await queryLoad(stalled)).running;
    const socket = connect(Number(new URL(stalled.url).port), '127.0.0.1');
    try {
      // The client reads the first bytes of the answer, then nothing more, and keeps the connection open.
      const firstBytes = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
      socket.write(`GET /v1/segments/${big}/export HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${adminToken}\r\n\r\n`);
      expect((await firstBytes).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
      socket.pause();
      expect(await running()).toBe(1);
      // The collector stops reading ClickHouse's answer too, and gives it up after 60 s without a byte. Before the
      // fix the slot stayed taken for as long as the client kept its connection (here: past the wait).
      await waitUntil(running, (n) => n === 0, 100_000);
    } finally {
      socket.destroy();
      await stalled.app.close();
    }
  }, 150_000);
});

describe('a JSON answer whose client stops reading but keeps its connection', () => {
  it('gives its slot back once the page is read from ClickHouse, not when the answer has reached the client', async () => {
    // 10,000 members with 2,000-character ids: a 20 MB page, more than the sockets' buffers hold.
    const big = 'builtin_new_visitors';
    const members = 10_000;
    const padding = 'x'.repeat(2000);
    await db.client.command({
      query: `INSERT INTO segment_members (segment_id, run, run_token, person_id, computed_at)
              SELECT '${big}', 1, 't', concat('user:', toString(number), '${padding}'), toDateTime('2026-01-01 00:00:00', 'UTC') FROM numbers(${members})`,
      clickhouse_settings: { wait_end_of_query: 1 },
    });
    await db.client.insert({
      table: 'segment_runs',
      values: [{ segment_id: big, run: 1, run_token: 't', computed_at: '2026-01-01 00:00:00', members, entered_count: members, left_count: 0 }],
      format: 'JSONEachRow',
    });
    const stalled = await startQueryCollector(db.url, db.database, { queryConcurrency: 1, queryQueue: 0 });
    const running = async () => (await queryLoad(stalled)).running;
    const socket = connect(Number(new URL(stalled.url).port), '127.0.0.1');
    try {
      // The client reads the first bytes of the answer, then nothing more, and keeps the connection open.
      const firstBytes = new Promise<Buffer>((resolve) => socket.once('data', resolve));
      socket.write(`GET /v1/segments/${big}/members?limit=${members} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${adminToken}\r\n\r\n`);
      const first = await firstBytes;
      socket.pause();
      const head = first.toString('latin1').split('\r\n\r\n', 1)[0] ?? '';
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
      const length = Number(/^content-length: (\d+)$/im.exec(head)?.[1]);
      expect(length).toBeGreaterThan(members * padding.length);
      // Before the fix the slot stayed taken until the whole answer had been written to the client (here: never).
      await waitUntil(running, (n) => n === 0, 10_000);
      const other = await fetch(`${stalled.url}/v1/segments/${segment}/members`, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(other.status).toBe(200);
      expect(await other.json()).toMatchObject({ total: 1, members: ['user:ann'] });

      // The stalled answer is still whole once its client reads on.
      const rest: Buffer[] = [first];
      let received = first.length;
      const whole = head.length + 4 + length;
      await new Promise<void>((resolve) => {
        socket.on('data', (chunk: Buffer) => {
          rest.push(chunk);
          received += chunk.length;
          if (received >= whole) resolve();
        });
        socket.resume();
      });
      const page = JSON.parse(Buffer.concat(rest).subarray(head.length + 4).toString('utf8')) as { total: number; members: string[] };
      expect(page.total).toBe(members);
      expect(page.members).toHaveLength(members);
    } finally {
      socket.destroy();
      await stalled.app.close();
    }
  }, 60_000);
});
