// Worker thread of bench/warehouse-dataset.ts: generates chunks of people and inserts their rows itself, so two
// workers keep both cores (and ClickHouse) busy and no chunk crosses threads. Per chunk: generate, report the
// row count, wait for how many rows of it belong to the dataset (the last chunk is cut), insert them.
import { parentPort } from 'node:worker_threads';
import { createWarehouseClient } from '../collector/warehouse/client';
import { generateDataset } from '../collector/warehouse/generator/generate';
import { deliveriesToRows, loadRows } from '../collector/warehouse/generator/load';

export type ToWorker =
  | { kind: 'generate'; url: string; database: string; seed: number; people: number; firstIndex: number; registeredShare: number | undefined }
  | { kind: 'insert'; limit: number };

export type FromWorker = { kind: 'generated'; rows: number } | { kind: 'inserted'; rows: number };

let pending: ReturnType<typeof deliveriesToRows> = [];
let target: { url: string; database: string } | undefined;

parentPort?.on('message', (message: ToWorker) => {
  if (message.kind === 'generate') {
    const { seed, people, firstIndex, registeredShare } = message;
    target = { url: message.url, database: message.database };
    pending = deliveriesToRows(generateDataset({ seed, people, firstIndex, ...(registeredShare === undefined ? {} : { registeredShare }) }).deliveries);
    const reply: FromWorker = { kind: 'generated', rows: pending.length };
    parentPort?.postMessage(reply);
    return;
  }
  const rows = pending.slice(0, message.limit);
  pending = [];
  const client = createWarehouseClient(target?.url ?? '', target?.database, { requestTimeoutMs: 900_000 });
  void loadRows(client, rows, 100_000)
    .finally(() => client.close())
    .then(() => {
      const reply: FromWorker = { kind: 'inserted', rows: rows.length };
      parentPort?.postMessage(reply);
    });
});
