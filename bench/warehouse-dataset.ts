// The warehouse bench's generated events, kept between runs: a dataset lives in its own ClickHouse database
// named after the generator version, the seed and the size (tf_bench_data_g<version>_s<seed>_n<events>[_r<share>])
// and is reused while those match; BENCH_WAREHOUSE_FRESH=1 rebuilds it. Each bench run copies the cached
// `events` partitions into its working database (ATTACH PARTITION … FROM: hard links, no rewrite), so it starts
// from identical raw data and builds everything downstream (identities, person_events) itself.
import { Worker } from 'node:worker_threads';
import { assertIdentifier, createWarehouseClient, queryRows, type ClickHouseClient } from '../collector/warehouse/client';
import { generatorVersion } from '../collector/warehouse/generator/generate';
import { migrate } from '../collector/warehouse/migrate';
import type { FromWorker, ToWorker } from './warehouse-dataset-worker';

export interface BenchDatasetSpec {
  events: number;
  /** Generator option; fewer registered people means more, lighter persons (the 1M-persons dataset). */
  registeredShare?: number;
}

export interface BenchDataset {
  database: string;
  rows: number;
  /** Seconds the load took when the dataset was made (0 when it was reused without timing). */
  loadSeconds: number;
  reused: boolean;
}

const seed = 1000;
const peoplePerChunk = 10_000;

export function datasetDatabase(spec: BenchDatasetSpec): string {
  const share = spec.registeredShare === undefined ? '' : `_r${Math.round(spec.registeredShare * 100)}`;
  return `tf_bench_data_g${generatorVersion}_s${seed}_n${spec.events}${share}`;
}

function startWorker(): Worker {
  const url = new URL('./warehouse-dataset-worker.ts', import.meta.url).href;
  // tsx registers itself in the worker first, so the worker can be TypeScript like the rest of the bench.
  return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(url)}); })`, { eval: true });
}

function ask(worker: Worker, message: ToWorker): Promise<FromWorker> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => reject(error);
    worker.once('error', fail);
    worker.once('message', (answer: FromWorker) => {
      worker.off('error', fail);
      resolve(answer);
    });
    worker.postMessage(message);
  });
}

/**
 * Generates the first `spec.events` events of the chunk sequence (10,000 people each, seed 1000 + chunk) with
 * two workers taking turns: chunk k+1 is generated while chunk k is inserted. Chunks are cut in order.
 */
async function fill(url: string, database: string, spec: BenchDatasetSpec): Promise<number> {
  const workers = [startWorker(), startWorker()];
  try {
    let rows = 0;
    let chunk = 0;
    const generate = (worker: Worker, k: number) =>
      ask(worker, { kind: 'generate', url, database, seed: seed + k, people: peoplePerChunk, firstIndex: k * peoplePerChunk, registeredShare: spec.registeredShare });
    let inFlight: Promise<unknown> = Promise.resolve();
    let generated = generate(workers[0] as Worker, 0);
    while (rows < spec.events) {
      const worker = workers[chunk % 2] as Worker;
      const count = (await generated).rows;
      const limit = Math.min(count, spec.events - rows);
      rows += limit;
      await inFlight;
      inFlight = ask(worker, { kind: 'insert', limit });
      chunk += 1;
      if (rows < spec.events) generated = generate(workers[chunk % 2] as Worker, chunk);
    }
    await inFlight;
    return rows;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The cached dataset for `spec`, made first when missing, incomplete or `fresh`. */
export async function benchDataset(url: string, spec: BenchDatasetSpec, fresh: boolean): Promise<BenchDataset> {
  const database = datasetDatabase(spec);
  const server = createWarehouseClient(url);
  try {
    if (!fresh) {
      const done = await queryRows<{ n: number }>(server, `SELECT count() AS n FROM system.tables WHERE database = '${assertIdentifier(database)}' AND name = 'bench_dataset'`);
      if (Number(done[0]?.n) > 0) {
        const [info] = await queryRows<{ rows: number; seconds: number }>(server, `SELECT rows, seconds FROM ${database}.bench_dataset`);
        // Migrations added since it was made (a column on events, say) first: copyEvents needs the same structure.
        await migrate(url, database);
        return { database, rows: Number(info?.rows), loadSeconds: Number(info?.seconds), reused: true };
      }
    }
    await server.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  } finally {
    await server.close();
  }
  await migrate(url, database);
  const client = createWarehouseClient(url, database, { requestTimeoutMs: 900_000 });
  try {
    const start = performance.now();
    const rows = await fill(url, database, spec);
    const seconds = (performance.now() - start) / 1000;
    // Written last: a dataset without it was interrupted and is rebuilt.
    await client.command({ query: 'CREATE TABLE bench_dataset (rows UInt64, seconds Float64) ENGINE = TinyLog' });
    await client.insert({ table: 'bench_dataset', values: [{ rows, seconds }], format: 'JSONEachRow' });
    return { database, rows, loadSeconds: seconds, reused: false };
  } finally {
    await client.close();
  }
}

/** Copies the cached events into `target.events` (same migrations, so the same structure) by partition. */
export async function copyEvents(client: ClickHouseClient, dataset: BenchDataset): Promise<void> {
  const partitions = await queryRows<{ partition: string }>(
    client,
    `SELECT DISTINCT partition FROM system.parts WHERE database = '${dataset.database}' AND table = 'events' AND active ORDER BY partition`,
  );
  for (const { partition } of partitions) {
    await client.command({ query: `ALTER TABLE events ATTACH PARTITION ${Number(partition)} FROM ${dataset.database}.events` });
  }
}
