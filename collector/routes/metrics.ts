// GET /metrics in the Prometheus text format. Its labels name every source (and its counters show the
// traffic), so it asks for the admin token, as the query API does, unless the config makes it public
// (publicMetrics: a scrape on a private network that cannot send a token).
import type { FastifyInstance, FastifyRequest, FastifyReply } from 'fastify';
import type { CollectorConfig } from '../config';
import { HttpError } from '../errors';
import type { CollectorMetrics } from '../metrics';
import { adminRefusal } from './query';

const noToken = (): HttpError =>
  new HttpError(
    401,
    'admin_token_not_configured',
    'GET /metrics needs the admin token and none is configured: set adminToken (Prometheus sends it as a bearer token), or publicMetrics: true to serve it to anyone',
  );

export function metricsRoutes(app: FastifyInstance, metrics: CollectorMetrics, config: Pick<CollectorConfig, 'adminToken' | 'publicMetrics'>): void {
  const guard = async (request: FastifyRequest, reply: FastifyReply) => {
    const refusal = adminRefusal(request.headers.authorization, config.adminToken);
    if (!refusal) return;
    // RFC 7235: a 401 names the scheme that would be accepted.
    void reply.header('WWW-Authenticate', 'Bearer');
    throw refusal.code === 'admin_token_not_configured' ? noToken() : refusal;
  };
  // Scrapes that worked before /metrics needed the token now get 401, and Prometheus shows only the status.
  if (!config.publicMetrics && !config.adminToken) app.log.warn('GET /metrics answers 401 to every scrape: set adminToken (Prometheus sends it as a bearer token), or publicMetrics: true');
  app.get('/metrics', { onRequest: config.publicMetrics ? [] : [guard] }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
}
