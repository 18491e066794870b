// Builds the Fastify app from a config and a warehouse; main.ts (or a test) decides where it listens.
import cors from '@fastify/cors';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { CollectorConfig } from './config';
import { HttpError, toErrorReply } from './errors';
import { demoRoutes } from './routes/demo';
import { healthRoutes } from './routes/health';
import { queryRoutes } from './routes/query';
import { trackingRoutes } from './routes/tracking';
import type { Warehouse } from './warehouse/events';

/** Segment's limit for one request; oversize bodies get a 413 naming it. */
export const maxBodyBytes = 500 * 1024;

function parseJson(body: string): unknown {
  if (body.trim() === '') return undefined;
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new HttpError(400, 'invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
}

export async function buildServer(config: CollectorConfig, warehouse: Warehouse, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: maxBodyBytes, trustProxy: false });

  // sendBeacon and the SDK post text/plain (no CORS preflight); Segment's libraries post application/json.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const { statusCode, body } = toErrorReply(error);
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
    if (statusCode === 503) void reply.header('Retry-After', '5');
    return reply.code(statusCode).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route for ${request.method} ${request.url}` }),
  );

  const allowedOrigins = new Set(config.sources.flatMap((source) => source.allowedOrigins));
  await app.register(cors, {
    // Per-source origins are enforced after the write key is known; here any configured origin passes.
    origin: (origin, callback) => callback(null, origin === undefined || allowedOrigins.has('*') || allowedOrigins.has(origin)),
    methods: ['GET', 'POST'],
    allowedHeaders: ['Content-Type', 'Authorization', 'Content-Encoding'],
    maxAge: 86_400,
  });

  healthRoutes(app, warehouse);
  trackingRoutes(app, config, warehouse);
  queryRoutes(app, config);
  if (config.serveDemo) await demoRoutes(app, config);
  return app;
}
