// Worker thread of bench/warehouse-dataset.ts: generates one chunk of people and answers with its rows as
// JSONEachRow text, so generation runs on one core while ClickHouse parses the previous chunk on another.
import { parentPort } from 'node:worker_threads';
import { generateDataset } from '../collector/warehouse/generator/generate';
import { deliveriesToRows } from '../collector/warehouse/generator/load';

export interface ChunkRequest {
  seed: number;
  people: number;
  firstIndex: number;
  registeredShare: number | undefined;
  /** At most this many rows (the last chunk is cut to the requested size). */
  limit: number;
}

export interface ChunkAnswer {
  text: string;
  rows: number;
}

parentPort?.on('message', (request: ChunkRequest) => {
  const { seed, people, firstIndex, registeredShare, limit } = request;
  const rows = deliveriesToRows(generateDataset({ seed, people, firstIndex, ...(registeredShare === undefined ? {} : { registeredShare }) }).deliveries).slice(0, limit);
  const answer: ChunkAnswer = { text: rows.map((row) => JSON.stringify(row)).join('\n'), rows: rows.length };
  parentPort?.postMessage(answer);
});
