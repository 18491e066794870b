// Query times of the analyst views, the funnel builder, segment materialisation and a segment export over generated data
// of a given size, as ratios against a plain `SELECT count() FROM events` scan measured in the same run.
import { assertIdentifier, createWarehouseClient, queryRows, type ClickHouseClient } from '../collector/warehouse/client';
import { processErasures, readErasure, requestErasure } from '../collector/warehouse/erasure';
import { runIdentityJob } from '../collector/warehouse/identity/job';
import { migrate } from '../collector/warehouse/migrate';
import { segmentStore, type SegmentStore } from '../collector/warehouse/segments';
import { segmentCsvChunks } from '../collector/query/export';
import { compileFunnel, parseFunnelQuery } from '../collector/query/funnel';
import { parseSegmentRule } from '../collector/query/segment-rules';
import { defaultEnd, generateDataset } from '../collector/warehouse/generator/generate';
import { deliveriesToRows, loadRows } from '../collector/warehouse/generator/load';
import { ensureClickHouse } from '../scripts/clickhouse/server';
import { benchDataset, copyEvents, datasetDatabase, type BenchDatasetSpec } from './warehouse-dataset';

// The issue's targets first (funnel, retention, LTV), the heaviest per-event views last.
const views = [
  'ecommerce_funnel_daily',
  'retention_weekly',
  'retention_monthly',
  'ltv_cohort_monthly',
  'customer_value',
  'value_metrics',
  'cx_monthly',
  'web_vitals',
  'ltv_by_segment',
  'cx_by_segment',
  'events_dedup',
  'person_events',
  'profiles',
  'sessions',
  'paths_to_conversion',
  'paths_to_dropoff',
  'paths_after_landing',
];
// Timed once: they take seconds (or fail) at 10M events.
const heavyViews = ['events_dedup', 'profiles', 'sessions', 'paths_to_conversion', 'paths_to_dropoff', 'paths_after_landing'];

const funnel = compileFunnel(
  parseFunnelQuery({
    steps: [{ event: 'Product Viewed', where: [{ property: 'category', op: 'eq', value: 'sneakers' }] }, { event: 'Product Added' }, { event: 'Checkout Started' }, { event: 'Order Completed' }],
    windowSeconds: 86_400,
  }),
);

const sneakers = parseSegmentRule({
  all: [
    { event: 'Product Added', where: [{ property: 'category', op: 'eq', value: 'sneakers' }], withinDays: 7 },
    { not: { event: 'Order Completed', where: [{ property: 'category', op: 'eq', value: 'care' }] } },
    { event: '$page', withinDays: 7 },
  ],
});

async function timed(run: () => Promise<unknown>, repeat = 3): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)] as number;
}

/** Reads a segment's whole export as the route streams it, discarding the CSV; its length in characters. */
async function exportFile(store: SegmentStore, id: string): Promise<number> {
  const file = await store.contactExport(id, { requirement: 'unless_denied', marketingIds: [] });
  let length = 0;
  for await (const chunk of segmentCsvChunks('google', file.rows)) length += chunk.length;
  return length;
}

const discard = (client: ClickHouseClient, sql: string) => client.command({ query: `${sql} FORMAT Null`, clickhouse_settings: { wait_end_of_query: 1 } });

/** A dataset of the bench: `1000000` is 1M events; `5500000r20` 5.5M events with 20% registered people. */
export function parseDatasetSpec(text: string): BenchDatasetSpec {
  const match = /^(\d+)(?:r(\d+))?$/.exec(text.trim());
  if (!match) throw new Error(`bad warehouse bench dataset ${JSON.stringify(text)}: expected <events> or <events>r<registered %>`);
  return { events: Number(match[1]), ...(match[2] === undefined ? {} : { registeredShare: Number(match[2]) / 100 }) };
}

const seconds = (since: number): number => (performance.now() - since) / 1000;

export async function warehouseSection(specs: BenchDatasetSpec[], options: { fresh: boolean }): Promise<string> {
  const { url } = await ensureClickHouse();
  const out: string[] = [];
  for (const spec of specs) {
    const datasetStart = performance.now();
    const dataset = await benchDataset(url, spec, options.fresh);
    const datasetSeconds = seconds(datasetStart);
    const database = `tf_bench_${datasetDatabase(spec).slice('tf_bench_data_'.length)}`;
    const server = createWarehouseClient(url);
    await server.command({ query: `DROP DATABASE IF EXISTS ${assertIdentifier(database)}` });
    await server.close();
    await migrate(url, database);
    // Analyst queries at 10M events can run for minutes on this machine.
    const client = createWarehouseClient(url, database, { requestTimeoutMs: 900_000 });
    try {
      const copyStart = performance.now();
      await copyEvents(client, dataset);
      const copySeconds = seconds(copyStart);
      const identityStart = performance.now();
      const firstRun = await runIdentityJob(client);
      const identitySeconds = seconds(identityStart);
      const idleStart = performance.now();
      await runIdentityJob(client);
      const idleSeconds = seconds(idleStart);
      const store = segmentStore(client);
      const [persons] = await queryRows<{ n: number }>(client, 'SELECT uniqExact(person_key) AS n FROM person_events');
      const baseline = await timed(() => discard(client, 'SELECT count() FROM events'));
      const rowsOut: [string, number | string][] = [];
      const label = `${dataset.rows} events${spec.registeredShare === undefined ? '' : ` (${spec.registeredShare * 100}% registered)`}`;
      console.log(`${label}: dataset ${dataset.reused ? 'reused' : 'generated'} in ${datasetSeconds.toFixed(0)} s, copied in ${copySeconds.toFixed(1)} s, identity job ${identitySeconds.toFixed(1)} s, baseline ${baseline.toFixed(0)} ms`);
      const measure = async (name: string, run: () => Promise<unknown>, repeat = 3): Promise<void> => {
        let result: number | string;
        try {
          result = await timed(run, repeat);
        } catch (error) {
          result = `failed: ${String((error as Error).message).slice(0, 120)}`;
        }
        console.log(`${label} | ${name} | ${typeof result === 'number' ? `${result.toFixed(0)} ms` : result}`);
        rowsOut.push([name, result]);
      };
      // A second reference: a full scan of the biggest column, no dedup, no identities.
      await measure('scan: `SELECT sum(length(properties)) FROM events`', () => discard(client, 'SELECT sum(length(properties)) FROM events'));
      await measure('funnel builder (4 steps, 1 property filter, 1-day window)', () => discard(client, funnel));
      const saved = await store.create('bench sneakers', sneakers);
      await measure('materialise segment: sneakers example', () => store.materialize(saved, defaultEnd));
      for (const id of ['builtin_cart_abandoners', 'builtin_top_ltv_10']) {
        const segment = store.builtins.find((s) => s.id === id);
        if (segment) await measure(`materialise segment: ${id}`, () => store.materialize(segment, defaultEnd));
      }
      // What GET /v1/segments/:id/export does: its query, then the whole CSV as it streams (default consent mode).
      await measure('export segment (google format): builtin_top_ltv_10', () => exportFile(store, 'builtin_top_ltv_10'));
      for (const view of views) await measure(`view \`${view}\``, () => discard(client, `SELECT * FROM ${view}`), heavyViews.includes(view) ? 1 : 3);
      // Steady state: 2,000 new people arriving after everything loaded so far (the dataset's late deliveries reach
      // 3 days past its end, so these happen 7–10 days after it), then one identity run with the default overlap.
      const increment = deliveriesToRows(generateDataset({ seed: 999, people: 2000, firstIndex: 50_000_000, end: defaultEnd + 10 * 86_400_000, days: 3 }).deliveries);
      await loadRows(client, increment, 50_000);
      const incrementStart = performance.now();
      const incrementRun = await runIdentityJob(client);
      const incrementSeconds = seconds(incrementStart);
      // Last, as it deletes: the erasure of the registered person with the most events (POST /v1/erasures, then what the
      // identity job's runner does after its run): DELETE mutations on every table holding them, waited for.
      const [busiest] = await queryRows<{ user_id: string; n: number }>(client, "SELECT user_id, count() AS n FROM events WHERE user_id != '' GROUP BY user_id ORDER BY n DESC, user_id LIMIT 1");
      const { id: erasureId } = await requestErasure(client, { kind: 'userId', value: busiest?.user_id ?? '' });
      const erasureStart = performance.now();
      const erasureFailure = await processErasures(client).then(
        () => '',
        (error: unknown) => ` (failed: ${String((error as Error).message).slice(0, 120)})`,
      );
      const erasureSeconds = seconds(erasureStart);
      const erased = await readErasure(client, erasureId);
      out.push(
        `### ${label} (${Number(persons?.n).toLocaleString('en')} persons)`,
        '',
        `Dataset \`${dataset.database}\`: ${dataset.reused ? 'reused' : 'generated'} (generating it took ${dataset.loadSeconds.toFixed(0)} s); copied into the run's database in ${copySeconds.toFixed(1)} s.`,
        `Identity job, first run (whole graph + person_events backfill of ${firstRun.personEvents.toLocaleString('en')} events): ${identitySeconds.toFixed(1)} s; a run with nothing new: ${idleSeconds.toFixed(1)} s;`,
        `a run after ${increment.length.toLocaleString('en')} new deliveries (${incrementRun.personEvents.toLocaleString('en')} events appended, ${incrementRun.staleIdentifiers} identifiers marked stale): ${incrementSeconds.toFixed(1)} s.`,
        `Erasure of the registered person with the most events (${(erased?.deleted?.events ?? 0).toLocaleString('en')} events; ${erased?.status ?? 'not found'}${erasureFailure}): ${erasureSeconds.toFixed(1)} s, ${((erasureSeconds * 1000) / baseline).toFixed(0)}× baseline.`,
        '',
        '| query | time | × baseline |',
        '|---|---:|---:|',
        `| baseline: \`SELECT count() FROM events\` (median of 3) | ${baseline.toFixed(0)} ms | 1 |`,
        ...rowsOut.map(([name, ms]) => (typeof ms === 'number' ? `| ${name} | ${ms.toFixed(0)} ms | ${(ms / baseline).toFixed(0)} |` : `| ${name} | ${ms} | |`)),
        '',
      );
    } finally {
      await client.command({ query: `DROP DATABASE IF EXISTS ${assertIdentifier(database)}` });
      await client.close();
    }
  }
  out.push(
    'Targets (issue 6): funnel, retention and LTV at 10M events at most 1 s each; materialising a segment over',
    '1M persons at most 5 s. Views read `person_events` (a narrow table deduplicated and person-attributed at',
    'write time by the identity job, plus the few re-attributed rows of stale identifiers) and the per-person-day',
    'rollup `person_days`; `events_dedup` (`events FINAL`) is kept as the reference of the old read path.',
    'Datasets are cached per generator version, seed and size (`BENCH_WAREHOUSE_FRESH=1` regenerates them); the',
    'first identity run builds person_events from scratch. Timings come from a 2-core machine shared with other jobs.',
  );
  return out.join('\n');
}
