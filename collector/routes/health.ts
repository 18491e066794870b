// Liveness and readiness for orchestrators and load balancers.
import type { FastifyInstance } from 'fastify';
import type { Warehouse } from '../warehouse/events';

export function healthRoutes(app: FastifyInstance, warehouse: Warehouse): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const clickhouse = await warehouse.ping().catch(() => false);
    return reply.code(clickhouse ? 200 : 503).send({ status: clickhouse ? 'ready' : 'not_ready', clickhouse });
  });
}
