// GET /metrics in the Prometheus text format.
import type { FastifyInstance } from 'fastify';
import type { CollectorMetrics } from '../metrics';

export function metricsRoutes(app: FastifyInstance, metrics: CollectorMetrics): void {
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
}
