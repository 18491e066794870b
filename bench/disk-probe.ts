// The disk's own synchronous-write latency, measured beside the collector in the same run: a worker
// thread writes `bytes` with O_DSYNC every `everyMs` into blocks of a file of its own that already hold
// zeros (what a spool group commit does in its zero-filled segment) and times each write() call alone (no
// event loop in between). No acknowledgement that waits for an O_DSYNC write can be faster than this
// distribution.
import { Worker } from 'node:worker_threads';
import { quantile } from './http-load';

export interface DiskProbe {
  /** Stops probing; resolves with the write latencies in ms, sorted. */
  stop(): Promise<number[]>;
}

const workerSource = `
const { openSync, writeSync, closeSync, unlinkSync, constants } = require('node:fs');
const { workerData, parentPort } = require('node:worker_threads');
const { path, bytes, everyMs, stop } = workerData;
const flag = new Int32Array(stop);
const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC);
const fileBytes = 8 * 1024 * 1024;
writeSync(fd, Buffer.alloc(fileBytes), 0, fileBytes, 0);
parentPort.postMessage('ready');
const buffer = Buffer.alloc(bytes, 0x61);
const latencies = [];
let position = 0;
while (Atomics.load(flag, 0) === 0) {
  const started = performance.now();
  writeSync(fd, buffer, 0, bytes, position);
  latencies.push(performance.now() - started);
  position = position + 2 * bytes > fileBytes ? 0 : position + bytes;
  Atomics.wait(flag, 0, 0, everyMs);
}
closeSync(fd);
unlinkSync(path);
parentPort.postMessage(latencies);
`;

/** Starts probing `path` (created and removed by the probe); resolves once its file is written and probing begins. */
export async function startDiskProbe(path: string, bytes: number, everyMs: number): Promise<DiskProbe> {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(workerSource, { eval: true, workerData: { path, bytes, everyMs, stop } });
  const nextMessage = () =>
    new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  await nextMessage(); // 'ready': the file is written
  // The latencies come only after stop(), so listening from here on misses nothing.
  const result = nextMessage().then((latencies) => (latencies as number[]).sort((a, b) => a - b));
  return {
    async stop() {
      Atomics.store(new Int32Array(stop), 0, 1);
      Atomics.notify(new Int32Array(stop), 0);
      const latencies = await result;
      await worker.terminate();
      return latencies;
    },
  };
}

/** "p50 / p99 / max" of sorted latencies in ms. */
export function describeLatencies(sorted: number[]): string {
  const ms = (value: number) => (value < 10 ? value.toFixed(1) : value.toFixed(0));
  return `${ms(quantile(sorted, 0.5))} / ${ms(quantile(sorted, 0.99))} / ${ms(quantile(sorted, 1))} ms`;
}
