// GET /v1/container/:writeKey — the tag container of a source, with ETag revalidation (304). The
// containers were validated when the config was loaded.
import type { FastifyInstance } from 'fastify';
import type { CollectorConfig } from '../config';
import { HttpError } from '../errors';
import { containerBody, etagMatches } from '../ingest/container';

export function containerRoutes(app: FastifyInstance, config: CollectorConfig): void {
  const served = new Map(config.sources.filter((s) => s.container).map((s) => [s.writeKey, containerBody(s.container!)]));

  app.get<{ Params: { writeKey: string } }>('/v1/container/:writeKey', async (request, reply) => {
    const container = served.get(request.params.writeKey);
    // One answer whether no source has this key or its source has no container: telling them apart would
    // let anyone test guessed keys here, where no origin check or rate limit applies.
    if (!container) throw new HttpError(404, 'no_container', 'no tag container is served for this write key');
    // no-cache: browsers may keep it but must revalidate, so a changed container applies on the next page.
    void reply.header('ETag', container.etag).header('Cache-Control', 'no-cache');
    if (etagMatches(request.headers['if-none-match'], container.etag)) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(container.body);
  });
}
