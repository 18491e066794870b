// The erasure API (admin token, registered inside the query API's scope by routes/query.ts, so it shares its guard,
// CORS and error shapes): POST /v1/erasures records the erasure of one person, which the identity job carries out
// after its next run; GET /v1/erasures/:id shows how far it got (docs/analytics.md, "Erasure (right to be forgotten)").
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../errors';
import { parseErasureRequest, type ErasureRequest } from '../query/erasure-request';
import type { ClickHouseClient } from '../warehouse/client';
import { readErasure, requestErasure } from '../warehouse/erasure';
import { refuseInput } from './input-error';

export const erasuresPath = '/v1/erasures';

function parsed(body: unknown): ErasureRequest {
  try {
    return parseErasureRequest(body);
  } catch (error) {
    refuseInput(error, 'invalid_erasure');
  }
}

/** POST /v1/erasures and GET /v1/erasures/:id on `scope`, which must already require the admin token. */
export function erasureRoutes(scope: FastifyInstance, client: ClickHouseClient): void {
  // 202: accepted, carried out later by the identity job (inside its lease), not by this request.
  scope.post(erasuresPath, async (request, reply) => reply.code(202).send(await requestErasure(client, parsed(request.body))));

  scope.get<{ Params: { id: string } }>(`${erasuresPath}/:id`, async (request) => {
    const found = await readErasure(client, request.params.id);
    if (!found) throw new HttpError(404, 'unknown_erasure', `no erasure ${JSON.stringify(request.params.id)}`);
    return found;
  });
}
