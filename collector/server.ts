// Builds the Fastify app from a config and a warehouse; main.ts (or a test) decides where it listens.
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { defaultLimits, type CollectorConfig } from './config';
import { HttpError, clientErrorReply, defaultMaxParamLength, toErrorReply, type ErrorReply } from './errors';
import type { CollectorMetrics } from './metrics';
import { decodeBodyHook, parsedBodyBytes } from './routes/body';
import { clientCompatRoutes } from './routes/client-compat';
import { containerRoutes } from './routes/container';
import { corsRoutes } from './routes/cors';
import { demoRoutes } from './routes/demo';
import { healthRoutes } from './routes/health';
import { methodNotAllowedRoutes, recordRoutes } from './routes/method-not-allowed';
import { metricsRoutes } from './routes/metrics';
import { queryRoutes } from './routes/query';
import { sdkRoutes } from './routes/sdk';
import { trackingRoutes } from './routes/tracking';
import type { Spool } from './spool/spool';
import type { Warehouse } from './warehouse/events';

/** Segment's limit for one request; oversize bodies get a 413 naming it. */
export const maxBodyBytes = defaultLimits.requestBytes;

/** What the routes need besides the config; main.ts creates them. */
export interface ServerOptions {
  logger?: FastifyServerOptions['logger'];
  spool: Spool;
  metrics: CollectorMetrics;
  /** The receive time of tracked requests (ms); Date.now by default (StartOptions.receiveClock). */
  receiveClock?: () => number;
}

/** sendBeacon and the SDK post text/plain (no CORS preflight); Segment's libraries post application/json. */
const bodyMediaTypes = ['application/json', 'text/plain'];

function parseJson(body: string): unknown {
  if (body.trim() === '') return undefined;
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new HttpError(400, 'invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Seconds a client is asked to wait when the collector is stopping (another instance, or this one restarted). */
const stoppingRetryAfterSeconds = 5;

/** An error answer written straight to the socket, for what Node refuses before there is a request object. */
function rawErrorResponse({ statusCode, body }: ErrorReply): string {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`;
}

export async function buildServer(config: CollectorConfig, warehouse: Warehouse, options: ServerOptions): Promise<FastifyInstance> {
  const limits = { ...defaultLimits, ...config.limits };
  const trustProxy = config.trustedProxies && config.trustedProxies.length > 0 ? config.trustedProxies : false;
  // No log line per request: at thousands of requests a second that is the log; errors are still logged.
  const logController = new LogController({ disableRequestLogging: true });
  // The router refuses longer path segments (414): a write key of any length must fit in /v1/container/:writeKey.
  const maxParamLength = Math.max(defaultMaxParamLength, ...config.sources.map((source) => source.writeKey.length));
  const sendError = (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const { statusCode, body } = toErrorReply(error, { requestBytes: limits.requestBytes, mediaTypes: bodyMediaTypes, contentType: request.headers['content-type'], maxParamLength });
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
    // A client that went away (499, the query API) is no failure: a debug line says so, the metric counts it.
    else if (statusCode === 499) request.log.debug({ reason: body.error }, body.message);
    options.metrics.refusedRequests.inc({ reason: body.error });
    if (statusCode === 503 && !reply.hasHeader('Retry-After')) void reply.header('Retry-After', '5');
    return reply.code(statusCode).send(body);
  };
  // What Node's HTTP parser refuses (a bad Content-Length, an unknown method, headers too large, a timeout)
  // never becomes a request: answered here in our shape, on the socket, as Node itself would.
  const clientErrorHandler = (error: Error & { code?: string }, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    const reply = clientErrorReply(error);
    options.metrics.refusedRequests.inc({ reason: reply.body.error });
    // Not in the middle of another answer on this connection (Node's own rule).
    if (socket.writable && !response?.headersSent) socket.write(rawErrorResponse(reply));
    socket.destroy(error);
  };
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: limits.requestBytes,
    trustProxy,
    logController,
    routerOptions: { maxParamLength },
    // frameworkErrors: what Fastify refuses before routing (a malformed percent-escape in the URL) gets our shape too.
    frameworkErrors: sendError,
    clientErrorHandler,
    // Fastify's 503 while stopping is in its own shape; the onRequest hook below answers ours.
    return503OnClosing: false,
    // Node's answer to a missing Host is an empty 400; the onRequest hook below answers ours.
    http: { requireHostHeader: false },
  });

  // An Expect other than 100-continue: Node would answer an empty 417.
  app.server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const reply: ErrorReply = { statusCode: 417, body: { error: 'expectation_failed', message: `Expect: ${String(request.headers.expect).slice(0, 100)} is not supported; only 100-continue is` } };
    options.metrics.refusedRequests.inc({ reason: reply.body.error });
    const text = JSON.stringify(reply.body);
    response.writeHead(reply.statusCode, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), Connection: 'close' }).end(text);
  });

  // gzip-encoded bodies are inflated before parsing (the limit applies to the inflated size); slow bodies time out.
  // Every body Fastify reads, whatever the method (a DELETE may carry one too); none where there is no body to read.
  app.addHook('preParsing', decodeBodyHook(limits.bodyTimeoutSeconds));

  app.removeContentTypeParser(bodyMediaTypes);
  app.addContentTypeParser(bodyMediaTypes, { parseAs: 'string' }, (request, body, done) => {
    try {
      parsedBodyBytes.set(request, Buffer.byteLength(body as string));
      done(null, parseJson(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  app.setErrorHandler(sendError);
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route for ${request.method} ${request.url}` }),
  );

  // CORS before the other onRequest hooks: its headers go on every answer from here on, the collector's own refusals
  // just below included (a browser reads neither an answer without them nor its Retry-After). Preflights are
  // answered by it, before those checks. After setErrorHandler: its OPTIONS route answers errors with that handler.
  await corsRoutes(app, config);

  let stopping = false;
  app.addHook('preClose', async () => {
    stopping = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    if (stopping) {
      void reply.header('Connection', 'close').header('Retry-After', String(stoppingRetryAfterSeconds));
      throw new HttpError(503, 'shutting_down', 'the collector is stopping; retry shortly (what it accepted before is kept)');
    }
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused with 400.
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) throw new HttpError(400, 'missing_host', 'an HTTP/1.1 request must send a Host header');
  });

  // Every route from here on is recorded, so that a known path asked with another method is answered 405.
  const routes = recordRoutes(app);
  healthRoutes(app, warehouse, options.spool);
  metricsRoutes(app, options.metrics, config);
  trackingRoutes(app, config, options);
  clientCompatRoutes(app, config);
  containerRoutes(app, config);
  queryRoutes(app, config, options.metrics);
  sdkRoutes(app);
  if (config.serveDemo) demoRoutes(app, config);
  // Last: plugins run in the order they were registered, so the routes of those above (the query API's) are known.
  await app.register(methodNotAllowedRoutes(routes));
  return app;
}
