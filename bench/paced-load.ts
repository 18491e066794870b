// An open-loop load generator: requests go out at evenly spaced times (1,000 requests/s is one every
// millisecond), whatever the answers do, and each latency is counted from the time its request was due.
// autocannon's `overallRate` is not that: each connection sends back to back until it has made its
// share of the second, then pauses, so "1,000 requests/s at 50 connections" arrives as bursts of 50
// concurrent requests during the first part of every second (and its coordinated-omission correction
// adds synthetic samples on top).
import { Agent, request } from 'node:http';

export interface PacedLoadOptions {
  url: string;
  /** Requests per second, evenly spaced. */
  rate: number;
  requests: number;
  /** Sockets kept open; a request due while all are busy waits for one (and that wait counts). */
  connections: number;
  headers: Record<string, string>;
  body(index: number): string;
}

export interface PacedLoadResult {
  /** Latencies in ms, from when each request was due to the end of its answer, sorted. */
  latencies: number[];
  statuses: Map<number, number>;
  errors: number;
  /** How far behind its schedule the generator itself fell at worst (ms): large values void the run. */
  maxLateness: number;
  seconds: number;
}

/** The `p` quantile (0..1) of sorted values. */
export function quantile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number);
}

export function pacedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const target = new URL(options.url);
  const interval = 1000 / options.rate;
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let errors = 0;
  let maxLateness = 0;
  let sent = 0;
  let finished = 0;
  const started = performance.now();

  return new Promise((resolve) => {
    const finish = () => {
      finished += 1;
      if (finished < options.requests) return;
      agent.destroy();
      resolve({ latencies: latencies.sort((a, b) => a - b), statuses, errors, maxLateness, seconds: (performance.now() - started) / 1000 });
    };
    const send = (index: number, due: number) => {
      const body = options.body(index);
      const req = request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { ...options.headers, 'content-length': Buffer.byteLength(body) } },
        (response) => {
          response.resume();
          response.once('end', () => {
            latencies.push(performance.now() - due);
            statuses.set(response.statusCode ?? 0, (statuses.get(response.statusCode ?? 0) ?? 0) + 1);
            finish();
          });
        },
      );
      req.once('error', () => {
        errors += 1;
        finish();
      });
      req.end(body);
    };
    // A 1 ms timer sends every request that has come due; setTimeout cannot fire more finely.
    const tick = () => {
      const now = performance.now();
      while (sent < options.requests && started + sent * interval <= now) {
        const due = started + sent * interval;
        maxLateness = Math.max(maxLateness, now - due);
        send(sent, due);
        sent += 1;
      }
      if (sent < options.requests) setTimeout(tick, Math.max(0, started + sent * interval - performance.now()));
    };
    tick();
  });
}
