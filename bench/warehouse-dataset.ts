// The warehouse bench's generated events, kept between runs: a dataset lives in its own ClickHouse database
// named after the generator version, the seed and the size (tf_bench_data_g<version>_s<seed>_n<events>[_r<share>])
// and is reused while those match; BENCH_WAREHOUSE_FRESH=1 rebuilds it. Each bench run copies the cached
// `events` partitions into its working database (ATTACH PARTITION … FROM: hard links, no rewrite), so it starts
// from identical raw data and builds everything downstream (identities, person_events) itself.
import { Worker } from 'node:worker_threads';
import { Readable } from 'node:stream';
import { assertIdentifier, createWarehouseClient, queryRows, type ClickHouseClient } from '../collector/warehouse/client';
import { generatorVersion } from '../collector/warehouse/generator/generate';
import { migrate } from '../collector/warehouse/migrate';
import type { ChunkAnswer, ChunkRequest } from './warehouse-dataset-worker';

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

function generate(worker: Worker, request: ChunkRequest): Promise<ChunkAnswer> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => reject(error);
    worker.once('error', fail);
    worker.once('message', (answer: ChunkAnswer) => {
      worker.off('error', fail);
      resolve(answer);
    });
    worker.postMessage(request);
  });
}

/** Generates `spec.events` events chunk by chunk (a worker generates the next chunk while this one is inserted). */
async function fill(client: ClickHouseClient, spec: BenchDatasetSpec): Promise<number> {
  const worker = startWorker();
  try {
    let rows = 0;
    let chunk = 0;
    const request = (): ChunkRequest => ({ seed: seed + chunk, people: peoplePerChunk, firstIndex: chunk * peoplePerChunk, registeredShare: spec.registeredShare, limit: spec.events - rows });
    let next = generate(worker, request());
    while (rows < spec.events) {
      const answer = await next;
      rows += answer.rows;
      chunk += 1;
      if (rows < spec.events) next = generate(worker, request());
      const result = await client.exec({ query: 'INSERT INTO events FORMAT JSONEachRow', values: Readable.from([Buffer.from(answer.text)]) });
      for await (const part of result.stream) void part;
    }
    return rows;
  } finally {
    await worker.terminate();
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
    const rows = await fill(client, spec);
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
