// `npm run bench [-- name ...]`: runs the benchmarks, prints their results and rewrites their
// sections of bench/RESULTS.md (other sections are kept, so one slow bench can be rerun alone).
import { cpus, totalmem } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSdk } from '../scripts/build';
import { pluginSizesSection } from './plugin-sizes';
import { peersSection } from './peers';
import { collectorSection } from './collector';
import { sizesSection } from './sizes';
import { trackCostSection } from './track-cost';
import { parseDatasetSpec, warehouseSection } from './warehouse';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const resultsFile = join(root, 'bench', 'RESULTS.md');

interface Bench {
  name: string;
  title: string;
  /** Measures dist/: the SDK is built once before the first such bench runs. */
  needsBuild?: boolean;
  run(): Promise<string>;
}

const benches: Bench[] = [
  { name: 'sizes', title: 'SDK build sizes', needsBuild: true, run: async () => sizesSection(root) },
  { name: 'plugin-sizes', title: 'SDK plugin sizes', needsBuild: true, run: async () => pluginSizesSection(root) },
  { name: 'peers', title: 'SDK size against its peers (page + track + identify)', needsBuild: true, run: () => peersSection(root) },
  { name: 'track-cost', title: 'Main-thread cost of track() in headless Chromium', needsBuild: true, run: () => trackCostSection(root) },
  { name: 'collector', title: 'Collector: end-to-end ingestion into ClickHouse', run: () => collectorSection(root) },
  {
    name: 'warehouse',
    title: 'Warehouse views, funnel builder and segment materialisation',
    // BENCH_WAREHOUSE_EVENTS=1000000 runs one dataset (`5500000r20`: 20% registered, about 1M persons);
    // BENCH_WAREHOUSE_FRESH=1 regenerates the cached datasets (bench/warehouse-dataset.ts).
    run: () =>
      warehouseSection((process.env.BENCH_WAREHOUSE_EVENTS ?? '1000000,10000000,5500000r20').split(',').map(parseDatasetSpec), {
        fresh: process.env.BENCH_WAREHOUSE_FRESH === '1',
      }),
  },
];

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

function replaceSection(document: string, name: string, body: string): string {
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const block = `${start}\n${body}\n${end}`;
  const from = document.indexOf(start);
  const to = document.indexOf(end);
  return from >= 0 && to > from ? document.slice(0, from) + block + document.slice(to + end.length) : `${document.trimEnd()}\n\n${block}\n`;
}

const wanted = process.argv.slice(2);
const selected = wanted.length > 0 ? benches.filter((b) => wanted.includes(b.name)) : benches;
if (selected.length === 0) {
  console.error(`unknown bench; choose from: ${benches.map((b) => b.name).join(', ')}`);
  process.exit(1);
}

let document = existsSync(resultsFile)
  ? readFileSync(resultsFile, 'utf8')
  : '# Benchmark results\n\nMade by `npm run bench` (or `npm run bench -- NAME` for one section). Timings are noisy on a shared machine: read them as ratios against the baseline measured in the same run.\n';
if (selected.some((bench) => bench.needsBuild)) buildSdk();
for (const bench of selected) {
  const body = await bench.run();
  const section = `## ${bench.title}\n\nCommand: \`npm run bench -- ${bench.name}\` · ${new Date().toISOString().slice(0, 10)} · ${machine()}\n\n${body}`;
  console.log(`\n${section}\n`);
  document = replaceSection(document, bench.name, section);
}
writeFileSync(resultsFile, document);
console.log(`results written to ${resultsFile}`);
