// A proxy in front of ClickHouse, on 127.0.0.1 only, for tests that need a query to last until they say so: it
// forwards every request as it comes, except queries a test picks, which it holds until the test releases them (or
// answers them with an error of the test's choosing). It also records the settings each request carried.
import { createServer, request as forward, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HeldQuery {
  /** The statement: the `query` URL parameter (inserts) and the body (queries), joined. */
  sql: string;
  /** Sends it on to ClickHouse; the answer goes back as it comes. */
  release(): void;
  /** Answers it as ClickHouse answers a query that failed before its first byte. */
  fail(status: number, text: string): void;
}

export interface SeenRequest {
  sql: string;
  /** The URL's parameters: settings, database, query_id… */
  params: URLSearchParams;
}

export interface ClickHouseGate {
  url: string;
  /** Every request forwarded or held so far, in arrival order. */
  seen: SeenRequest[];
  /** Held queries, in arrival order (released ones stay listed). */
  held: HeldQuery[];
  /** From now on, holds each query whose statement `matches`. */
  hold(matches: (sql: string) => boolean): void;
  /** From now on, ends the answer of each query whose statement `matches` with `text`, as 18.16 reports an error after the first byte. */
  appendTo(matches: (sql: string) => boolean, text: string): void;
  close(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Starts the gate in front of the ClickHouse at `target`. */
export async function startClickHouseGate(target: string): Promise<ClickHouseGate> {
  const upstream = new URL(target);
  const holds: Array<(sql: string) => boolean> = [];
  const appends: Array<{ matches: (sql: string) => boolean; text: string }> = [];
  const gate: ClickHouseGate = {
    url: '',
    seen: [],
    held: [],
    hold: (matches) => void holds.push(matches),
    appendTo: (matches, text) => void appends.push({ matches, text }),
    close: async () => undefined,
  };

  const pass = (request: IncomingMessage, body: Buffer, response: ServerResponse, trailer: string | undefined): void => {
    const outgoing = forward(
      { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: { ...request.headers, host: upstream.host } },
      (answer) => {
        const headers = { ...answer.headers };
        // The length changes when text is appended; chunked instead.
        if (trailer !== undefined) delete headers['content-length'];
        response.writeHead(answer.statusCode ?? 502, headers);
        answer.on('data', (chunk: Buffer) => response.write(chunk));
        answer.on('end', () => response.end(trailer));
        answer.on('error', () => response.destroy());
      },
    );
    outgoing.on('error', () => response.destroy());
    // The collector gave up on the query (its client went away): so does the gate, as ClickHouse would see it.
    response.on('close', () => {
      if (!response.writableFinished) outgoing.destroy();
    });
    outgoing.end(body);
  };

  const server = createServer((request, response) => {
    void readBody(request).then((body) => {
      const params = new URL(request.url ?? '/', 'http://gate').searchParams;
      const sql = `${params.get('query') ?? ''}\n${body.toString('utf8')}`;
      gate.seen.push({ sql, params });
      const trailer = appends.find((a) => a.matches(sql))?.text;
      if (!holds.some((matches) => matches(sql))) {
        pass(request, body, response, trailer);
        return;
      }
      gate.held.push({
        sql,
        release: () => pass(request, body, response, trailer),
        fail: (status, text) => response.writeHead(status, { 'Content-Type': 'text/plain; charset=UTF-8' }).end(text),
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gate.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  gate.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return gate;
}
