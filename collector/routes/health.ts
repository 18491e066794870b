// Liveness and readiness for orchestrators and load balancers.
import type { FastifyInstance } from 'fastify';
import type { Spool } from '../spool/spool';
import type { Warehouse } from '../warehouse/events';

export function healthRoutes(app: FastifyInstance, warehouse: Warehouse, spool: Spool): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  // Ready: ClickHouse answers and the spool can take writes (so an accepted event can be kept).
  app.get('/readyz', async (_request, reply) => {
    const [clickhouse, spoolWritable] = await Promise.all([warehouse.ping().catch(() => false), spool.writable()]);
    const ready = clickhouse && spoolWritable;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', clickhouse, spool: spoolWritable });
  });
}
