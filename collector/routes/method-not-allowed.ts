// A known path asked with a method it does not take (PUT /v1/batch, GET /v1/track, DELETE /v1/container/:key)
// is answered 405 with `Allow` (RFC 9110 §15.5.6), not 404: the client has the right URL and the wrong method,
// and the answer says which methods the path has. Unknown paths stay 404 (server.ts's not-found handler).
//
// Done with routes of their own, one per path for the methods it lacks, so the router matches them exactly as it
// matches the real ones: a malformed escape still gets 400 invalid_url and an over-long segment 414. (Asking
// `app.findRoute` from the not-found handler instead does not work: for a malformed URL it returns a stand-in
// route for every method, so any such path would seem to exist.)
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods, RouteOptions } from 'fastify';
import { HttpError } from '../errors';

/**
 * CORS preflights (OPTIONS) are answered on every path by @fastify/cors's `OPTIONS *` route: a 405 route for
 * OPTIONS would hide it. So OPTIONS is never refused here nor listed in `Allow` (outside a preflight it is
 * refused with 400 invalid_preflight, server.ts).
 */
const unrefused = new Set(['OPTIONS']);

/** The order methods are listed in `Allow`; others follow in the router's order. */
const listingOrder = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
const byListingOrder = (a: string, b: string): number => (listingOrder.indexOf(a) + 1 || 99) - (listingOrder.indexOf(b) + 1 || 99);

/** The methods each path (as registered: `/v1/container/:writeKey`) is routed for. */
export type KnownRoutes = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * Records every route added from now on (Fastify's onRoute hook, which also reports the HEAD route it adds for
 * each GET). Call before the routes are added; the function it returns stops the recording and gives the routes.
 */
export function recordRoutes(app: FastifyInstance): () => KnownRoutes {
  const known = new Map<string, Set<string>>();
  let recording = true;
  app.addHook('onRoute', (route: RouteOptions) => {
    // `OPTIONS *` (CORS) is the only wildcard, and no path of the collector's.
    if (!recording || route.url.includes('*')) return;
    const methods = known.get(route.url) ?? new Set<string>();
    for (const method of [route.method].flat()) if (!unrefused.has(method)) methods.add(method);
    known.set(route.url, methods);
  });
  return () => {
    recording = false;
    return known;
  };
}

/** The answer for `method` on `path`, which takes the `allowed` methods. */
function methodNotAllowed(method: string, path: string, allowed: readonly string[]): HttpError {
  return new HttpError(405, 'method_not_allowed', `${method} is not allowed on ${path}; it takes ${allowed.join(', ')}`);
}

/**
 * A plugin adding the 405 routes for the routes recorded until it runs. Register it after every plugin that adds
 * routes: Fastify runs plugins in the order they were registered, so by then every route is known.
 */
export function methodNotAllowedRoutes(recorded: () => KnownRoutes) {
  return async (app: FastifyInstance): Promise<void> => {
    for (const [url, methods] of recorded()) {
      const allowed = [...methods].sort(byListingOrder);
      const refused = app.supportedMethods.filter((method) => !methods.has(method) && !unrefused.has(method)) as HTTPMethods[];
      if (refused.length === 0 || allowed.length === 0) continue;
      const refuse = async (request: FastifyRequest, reply: FastifyReply): Promise<never> => {
        void reply.header('Allow', allowed.join(', '));
        throw methodNotAllowed(request.method, request.url.split('?', 1)[0] ?? url, allowed);
      };
      app.route({
        method: refused,
        url,
        // Fastify would add a HEAD route for a refused GET: HEAD is refused already unless the path has it.
        exposeHeadRoute: false,
        // Refused in onRequest, before the body is read: a PUT's body is neither parsed nor refused with 415 first.
        onRequest: refuse,
        handler: refuse,
      });
    }
  };
}
