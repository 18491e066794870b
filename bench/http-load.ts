// The bench's HTTP load generator. Open loop (`rate` set): requests go out at evenly spaced times (1,000
// requests/s is one every millisecond), whatever the answers do, and each latency is counted from the
// time its request was due. Closed loop (no `rate`): each connection sends its next request as soon as
// its answer is in, and latency is counted from the send. autocannon's `overallRate` is not that: each connection sends back to back until it has made its
// share of the second, then pauses, so "1,000 requests/s at 50 connections" arrives as bursts of 50
// concurrent requests during the first part of every second (and its coordinated-omission correction
// adds synthetic samples on top).
//
// The generator shares the machine with what it measures, so it does as little as it can while the clock
// runs: every request's bytes are made before the first is sent, and it speaks HTTP/1.1 over plain
// sockets, reading only the status line and Content-Length of each answer (Node's HTTP client cost it
// about a quarter of a core at 1,000 requests/s and put its own pauses into the latencies; autocannon,
// building each body as it went, held the closed-loop phase near 1,650 requests/s whatever the collector
// could do).
import { connect, type Socket } from 'node:net';

export interface LoadOptions {
  url: string;
  /** Requests per second, evenly spaced (open loop); absent, each connection sends back to back (closed loop). */
  rate?: number;
  requests: number;
  /** Sockets kept open; a request due while all are busy waits for one (and that wait counts). */
  connections: number;
  headers: Record<string, string>;
  body(index: number): string;
}

export interface LoadResult {
  /** Latencies in ms, from when each request was due (closed loop: sent) to the end of its answer, sorted. */
  latencies: number[];
  statuses: Map<number, number>;
  errors: number;
  /** How far behind its schedule the generator itself fell at worst (ms; open loop): large values void the run. */
  maxLateness: number;
  /** performance.now() when the first request went out, and the seconds from then to the last answer. */
  startedAt: number;
  seconds: number;
}

/** The `p` quantile (0..1) of sorted values. */
export function quantile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number);
}

interface Connection {
  socket: Socket;
  /** When the request on this connection was due; undefined while idle. */
  due: number | undefined;
  received: Buffer;
  /** The server said Connection: close: no further request goes on this socket. */
  closing: boolean;
}

interface Answer {
  /** Bytes the answer takes in the data. */
  bytes: number;
  status: number;
  close: boolean;
}

const headerEnd = Buffer.from('\r\n\r\n');
/** An answer not complete after this long counts as an error (its socket is dropped). */
const answerTimeoutMs = 30_000;
/** Connections that fail to open this many times in a row end the run: what is left counts as errors. */
const maxConnectFailures = 3;

/** The first whole answer in `data`, undefined while incomplete, or 'unreadable' without Content-Length. */
function completeAnswer(data: Buffer): Answer | 'unreadable' | undefined {
  const end = data.indexOf(headerEnd);
  if (end < 0) return undefined;
  const head = data.toString('latin1', 0, end);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
  if (length === undefined) return 'unreadable';
  const bytes = end + headerEnd.length + Number(length);
  if (data.length < bytes) return undefined;
  return { bytes, status: Number(head.slice(9, 12)), close: /\r\nconnection:\s*close/i.test(head) };
}

export async function httpLoad(options: LoadOptions): Promise<LoadResult> {
  const target = new URL(options.url);
  const fixed = `POST ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\n${Object.entries(options.headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}`;
  const requests = Array.from({ length: options.requests }, (_, index) => {
    const body = Buffer.from(options.body(index));
    return Buffer.concat([Buffer.from(`${fixed}Content-Length: ${body.length}\r\n\r\n`), body]);
  });
  const interval = options.rate === undefined ? 0 : 1000 / options.rate;
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const idle: Connection[] = [];
  const open = new Set<Connection>();
  const waiting: Array<{ index: number; due: number }> = [];
  let errors = 0;
  let maxLateness = 0;
  let sent = 0;
  let finished = 0;
  let started = 0;
  let connectFailures = 0;
  let ended = false;
  let done: (result: LoadResult) => void = () => undefined;
  let watchdog: NodeJS.Timeout | undefined;

  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(watchdog);
    for (const c of open) c.socket.destroy();
    done({ latencies: latencies.sort((a, b) => a - b), statuses, errors, maxLateness, startedAt: started, seconds: (performance.now() - started) / 1000 });
  };
  const send = (connection: Connection, index: number, due: number) => {
    connection.due = due;
    connection.socket.write(requests[index] as Buffer);
  };
  /** The connection is free: it takes the oldest waiting request, or waits itself. */
  const release = (connection: Connection) => {
    if (ended || connection.closing || connection.socket.destroyed) return;
    const next = waiting.shift();
    if (next) send(connection, next.index, next.due);
    else if (options.rate === undefined && sent < options.requests) send(connection, sent++, performance.now());
    else idle.push(connection);
  };
  const finish = (connection: Connection, status: number | undefined) => {
    if (connection.due === undefined) return;
    if (status === undefined) errors += 1;
    else {
      latencies.push(performance.now() - connection.due);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    connection.due = undefined;
    finished += 1;
    if (finished === options.requests) end();
  };
  /** No connection can be made: every request not yet answered counts as an error. */
  const giveUp = () => {
    errors += options.requests - finished;
    finished = options.requests;
    end();
  };
  const connectOne = (): Promise<Connection> => {
    const connection: Connection = { socket: connect(Number(target.port), target.hostname), due: undefined, received: Buffer.alloc(0), closing: false };
    open.add(connection);
    connection.socket.setNoDelay(true);
    connection.socket.on('data', (chunk: Buffer) => {
      connection.received = connection.received.length === 0 ? chunk : Buffer.concat([connection.received, chunk]);
      for (;;) {
        const answer = completeAnswer(connection.received);
        if (answer === undefined) return;
        if (answer === 'unreadable') {
          connection.socket.destroy(); // counted as an error when it closes
          return;
        }
        connection.received = connection.received.subarray(answer.bytes);
        connection.closing ||= answer.close;
        finish(connection, answer.status);
        release(connection);
      }
    });
    // An answer with Connection: close, a timeout or a failure: an unanswered request counts as an
    // error, and a new connection takes this one's place.
    connection.socket.once('close', () => {
      open.delete(connection);
      const at = idle.indexOf(connection);
      if (at >= 0) idle.splice(at, 1);
      finish(connection, undefined);
      if (ended) return;
      void connectOne().then(
        (replacement) => {
          connectFailures = 0;
          release(replacement);
        },
        () => {
          connectFailures += 1;
          if (connectFailures >= maxConnectFailures) giveUp();
        },
      );
    });
    connection.socket.on('error', () => undefined);
    return new Promise((resolve, reject) => {
      connection.socket.once('connect', () => resolve(connection));
      connection.socket.once('error', reject);
    });
  };

  try {
    idle.push(...(await Promise.all(Array.from({ length: options.connections }, connectOne))));
  } catch (error) {
    ended = true;
    for (const c of open) c.socket.destroy();
    throw error;
  }
  return new Promise((resolve) => {
    done = resolve;
    started = performance.now();
    watchdog = setInterval(() => {
      const now = performance.now();
      for (const c of open) if (c.due !== undefined && now - c.due > answerTimeoutMs) c.socket.destroy();
    }, 1000);
    if (options.rate === undefined) {
      for (const connection of idle.splice(0)) release(connection);
      return;
    }
    // A 1 ms timer sends every request that has come due; setTimeout cannot fire more finely.
    const tick = () => {
      if (ended) return;
      const now = performance.now();
      while (sent < options.requests && started + sent * interval <= now) {
        const due = started + sent * interval;
        maxLateness = Math.max(maxLateness, now - due);
        const connection = idle.pop();
        if (connection) send(connection, sent, due);
        else waiting.push({ index: sent, due });
        sent += 1;
      }
      if (sent < options.requests) setTimeout(tick, Math.max(0, started + sent * interval - performance.now()));
    };
    tick();
  });
}
