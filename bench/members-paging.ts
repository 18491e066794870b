// A members page near the end of a large run, by offset and by cursor (GET /v1/segments/:id/members), on a
// segment_members table of our own: `npx tsx bench/members-paging.ts` (CLICKHOUSE_URL, default the dev server).
// Not in `npm run bench`: it builds two 1M-member and two 10M-member runs (about 1.5 min, 650 MB on disk) in
// database tf_members_paging, kept for the next run; drop it when done. Prints the median of 3, old and new
// interleaved, for the page's own query and for the whole read the API does (the page, then the run check), and
// what counting the run's rows costs (each page did it for `total` before the cursor change).
import { createWarehouseClient, queryRows, type ClickHouseClient } from '../collector/warehouse/client';
import { migrate } from '../collector/warehouse/migrate';
import { segmentStore, type PageStart } from '../collector/warehouse/segments';
import { str, int } from '../collector/query/literal';
import type { RunRef } from '../collector/query/run-id';

const url = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:28123';
const database = 'tf_members_paging';
const limit = 10_000;
/** Each segment has two kept runs (the newest and the one before), as materialize leaves them. */
const sizes = [1_000_000, 10_000_000];
const segmentOf = (members: number): string => `seg_${members}`;
const runs: RunRef[] = [
  { run: 1000, token: 'aaaaaaaaaaaaaaaa' },
  { run: 2000, token: 'bbbbbbbbbbbbbbbb' },
];

async function build(client: ClickHouseClient): Promise<void> {
  const [found] = await queryRows<{ n: number }>(client, 'SELECT count() AS n FROM segment_members');
  if (found?.n === 2 * sizes.reduce((a, b) => a + b, 0)) return;
  await client.command({ query: 'TRUNCATE TABLE segment_members' });
  await client.command({ query: 'TRUNCATE TABLE segment_runs' });
  for (const members of sizes) {
    for (const ref of runs) {
      // person_ids shaped like the identity job's (`user:` and 32 hex digits), inserted out of order.
      await client.command({
        query: `INSERT INTO segment_members (segment_id, run, run_token, person_id, computed_at)
                SELECT ${str(segmentOf(members))}, ${int(ref.run)}, ${str(ref.token)}, concat('user:', lower(hex(MD5(toString(number + ${int(ref.run)}))))),
                       toDateTime('2026-11-24 12:00:00', 'UTC')
                FROM numbers(${int(members)})`,
        clickhouse_settings: { wait_end_of_query: 1 },
      });
      await client.insert({
        table: 'segment_runs',
        values: [{ segment_id: segmentOf(members), run: ref.run, run_token: ref.token, computed_at: '2026-11-24 12:00:00', members, entered_count: 0, left_count: 0 }],
        format: 'JSONEachRow',
      });
    }
  }
  await client.command({ query: 'OPTIMIZE TABLE segment_members FINAL', clickhouse_settings: { wait_end_of_query: 1 } });
}

/** Appends how long `run` took, in ms. */
async function timed(run: () => Promise<unknown>, times: number[]): Promise<void> {
  const start = performance.now();
  await run();
  times.push(performance.now() - start);
}
const mid = (times: number[]): number => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] as number;

/** Rows and bytes ClickHouse read for `query` (the JSON format's statistics). */
async function readStats(client: ClickHouseClient, query: string): Promise<string> {
  const result = await client.query({ query, format: 'JSON' });
  const { statistics } = await result.json<{ person_id: string }>();
  return `${statistics?.rows_read ?? '?'} rows, ${((statistics?.bytes_read ?? 0) / 2 ** 20).toFixed(0)} MiB`;
}

async function main(): Promise<void> {
  await migrate(url, database);
  const client = createWarehouseClient(url, database, { requestTimeoutMs: 1_800_000 });
  await build(client);
  const store = segmentStore(client);
  const ref = runs[1] as RunRef;
  for (const members of sizes) {
    const id = segmentOf(members);
    const of = `segment_id = ${str(id)} AND run = ${int(ref.run)} AND run_token = ${str(ref.token)}`;
    // The last full page but one: what a client paging to the end reads last.
    const offset = members - 2 * limit;
    const [first] = await queryRows<{ person_id: string }>(client, `SELECT person_id FROM segment_members WHERE ${of} ORDER BY person_id LIMIT 1 OFFSET ${int(offset)}`);
    const from = first?.person_id ?? '';
    // The SQL readMembers sends for each start (segments.ts, pageSql).
    const byOffset = `SELECT person_id FROM segment_members WHERE ${of} ORDER BY person_id LIMIT ${int(limit + 1)} OFFSET ${int(offset)}`;
    const byCursor = `SELECT person_id FROM segment_members WHERE ${of} AND person_id >= ${str(from)} ORDER BY person_id LIMIT ${int(limit + 1)}`;
    const times: Record<string, number[]> = { offsetSql: [], cursorSql: [], count: [], offsetRead: [], cursorRead: [] };
    const count = `SELECT count() AS n FROM segment_members WHERE ${of}`;
    const reads: Record<string, PageStart> = { offsetRead: { offset }, cursorRead: { from } };
    for (let round = 0; round < 3; round++) {
      await timed(() => queryRows(client, byOffset), times.offsetSql as number[]);
      await timed(() => queryRows(client, byCursor), times.cursorSql as number[]);
      await timed(() => queryRows(client, count), times.count as number[]);
      for (const [name, start] of Object.entries(reads)) await timed(() => store.runMembers(id, ref, limit, start), times[name] as number[]);
    }
    const same = await Promise.all([queryRows<{ person_id: string }>(client, byOffset), queryRows<{ person_id: string }>(client, byCursor)]);
    const f = (name: string): string => `${(mid(times[name] as number[]) / 1000).toFixed(3)} s`;
    console.log(`${members.toLocaleString('en-US')} members, ${limit}-member page at offset ${offset.toLocaleString('en-US')} (same rows: ${JSON.stringify(same[0]) === JSON.stringify(same[1])}):`);
    console.log(`  page query: offset ${f('offsetSql')} (${await readStats(client, byOffset)}), cursor ${f('cursorSql')} (${await readStats(client, byCursor)}), ${(mid(times.offsetSql as number[]) / mid(times.cursorSql as number[])).toFixed(1)}x`);
    console.log(`  whole read (page, run check): offset ${f('offsetRead')}, cursor ${f('cursorRead')}, ${(mid(times.offsetRead as number[]) / mid(times.cursorRead as number[])).toFixed(1)}x`);
    console.log(`  counting the run's rows (each page's total before): ${f('count')} (${await readStats(client, count)})`);
  }
  await client.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
