// What Segment's and RudderStack's client libraries ask of a server before and besides sending events: their
// settings (Segment: GET /v1/projects/:writeKey/settings; RudderStack: GET /sourceConfig) and Segment's
// telemetry (POST /v1/m). Without an answer to the settings request the mobile SDKs send nothing, or to
// Segment. The short event paths (/v1/b, /v1/t, …) are tracking.ts's own handlers under a second name.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CollectorConfig, SourceConfig } from '../config';
import { HttpError } from '../errors';
import { checkOrigin, sourceOfWriteKey } from './tracking';

/**
 * Browsers may reuse an answer for five minutes; `private` keeps shared caches from storing it, as the
 * Segment answer names the host the request came to when no publicUrl is set (one poisoned Host must not reach
 * other clients).
 */
const settingsCacheControl = 'private, max-age=300';

/** Where clients reach this collector: what Segment's libraries need as apiHost. */
export interface ApiEndpoint {
  /**
   * `host[:port]` and the path prefix the collector is served under, if any, without a scheme or a trailing
   * slash (`shop.example.com/tagflow`): Segment's libraries put `https://` (analytics.js: `protocol`) before
   * apiHost and `/b`, `/t`, … after it.
   */
  base: string;
  protocol: 'http' | 'https';
}

/** The endpoint of a configured public URL (config.ts gives it as `scheme://host[:port][/prefix]`, no trailing slash). */
export function publicEndpoint(publicUrl: string): ApiEndpoint {
  const url = new URL(publicUrl);
  return { base: `${url.host}${url.pathname === '/' ? '' : url.pathname}`, protocol: url.protocol === 'https:' ? 'https' : 'http' };
}

/**
 * The Segment settings (the CDN's `projects/<key>/settings`) for one source. Only "Segment.io" is listed:
 * analytics-kotlin disables every destination missing from `integrations` (DestinationPlugin.update), so
 * without it nothing is sent; and with it but without `apiHost` its SegmentDestination falls back to
 * api.segment.io/v1, so events would go to Segment. analytics-swift takes a non-empty apiHost from here too;
 * analytics.js (analytics-next) lets the client's own `integrations["Segment.io"].apiHost` win over this one
 * (mergedOptions) and reads `protocol`. `metrics.sampleRate: 0` turns their telemetry off: it goes to
 * api.segment.io, not to the configured apiHost (analytics-kotlin Telemetry.host).
 */
export function segmentSettings(source: SourceConfig, endpoint: ApiEndpoint): Record<string, unknown> {
  return {
    integrations: {
      'Segment.io': { apiKey: source.writeKey, apiHost: `${endpoint.base}/v1`, protocol: endpoint.protocol, unbundledIntegrations: [] },
    },
    plan: {},
    edgeFunction: {},
    middlewareSettings: {},
    enabledMiddleware: {},
    metrics: { sampleRate: 0 },
    remotePlugins: [],
  };
}

/**
 * RudderStack's source config (the control plane's `/sourceConfig`) for one source. The SDKs refuse or
 * crash on less: rudder-sdk-js v3 (isValidSourceConfig) needs `source.id`, a `source.config` object and a
 * `destinations` array; rudder-sdk-android crashed on a missing `config.statsCollection` (issue #429); the
 * Kotlin SDK (RudderServerConfigSource) requires `id`, `name`, `writeKey`, `enabled`, `workspaceId` and
 * `updatedAt`. No `dataplanes`, publicUrl or not: the SDKs then keep the dataPlaneUrl they were configured with.
 * rudder-sdk-js v3 no longer reads it (data residency was removed in 2024), and the older SDKs that do (v1.1,
 * rudder-sdk-android and -ios 1.x) let its default URL replace their configured dataPlaneUrl, which already
 * points here. Error and metrics collection are off, as they would report to RudderStack.
 */
export function rudderSourceConfig(source: SourceConfig, updatedAt: string): Record<string, unknown> {
  return {
    isHosted: false,
    source: {
      id: source.id,
      name: source.id,
      writeKey: source.writeKey,
      workspaceId: 'tagflow',
      enabled: true,
      deleted: false,
      config: { statsCollection: { errors: { enabled: false }, metrics: { enabled: false } } },
      destinations: [],
      createdAt: updatedAt,
      updatedAt,
    },
    updatedAt,
  };
}

/**
 * Where the request says it was sent: its Host (X-Forwarded-Host and -Proto when it comes from a trusted proxy:
 * Fastify's trustProxy, set from trustedProxies). It has no path prefix a proxy may have stripped.
 */
function requestEndpoint(request: FastifyRequest): ApiEndpoint {
  const host = request.host;
  if (!host) throw new HttpError(400, 'missing_host', 'the settings name the host they were asked from: send a Host header');
  return { base: host, protocol: request.protocol === 'https' ? 'https' : 'http' };
}

export function clientCompatRoutes(app: FastifyInstance, config: CollectorConfig): void {
  const sources = new Map(config.sources.map((source) => [source.writeKey, source]));
  // The config is loaded once at start: its answers change only when the collector restarts.
  const loadedAt = new Date().toISOString();
  // Behind a proxy that serves the collector under a path prefix (or rewrites Host), only the operator knows
  // the URL clients use: publicUrl. Without it, the host the request came to.
  const configured = config.publicUrl === undefined ? undefined : publicEndpoint(config.publicUrl);

  function send(reply: FastifyReply, body: Record<string, unknown>): FastifyReply {
    return reply.header('Cache-Control', settingsCacheControl).type('application/json; charset=utf-8').send(body);
  }

  // analytics-kotlin and analytics-swift: GET https://{cdnHost}/projects/{writeKey}/settings, cdnHost
  // `cdn-settings.segment.com/v1` by default; analytics-next: GET {cdnURL}/v1/projects/{writeKey}/settings.
  app.get<{ Params: { writeKey: string } }>('/v1/projects/:writeKey/settings', async (request, reply) => {
    const source = sources.get(request.params.writeKey);
    // As Segment's CDN does: 404 for a key it has no settings for. (Probing keys here tells no more than a
    // POST with the key does.)
    if (!source) throw new HttpError(404, 'unknown_write_key', 'this write key belongs to no configured source, so there are no settings for it');
    checkOrigin(source, request);
    return send(reply, segmentSettings(source, configured ?? requestEndpoint(request)));
  });

  // rudder-sdk-android: {controlPlaneUrl}/sourceConfig?p=android&v=…&bv=…; rudder-sdk-ios: …/sourceConfig?p=ios&v=…;
  // rudder-sdk-js v3: {configUrl}/sourceConfig/?p=…&v=…&build=…&writeKey=…&lockIntegrationsVersion=…. All
  // send the write key as the Basic-auth user name.
  const sourceConfig = async (request: FastifyRequest<{ Querystring: { writeKey?: string | string[] } }>, reply: FastifyReply) => {
    const queryKey = typeof request.query.writeKey === 'string' && request.query.writeKey !== '' ? request.query.writeKey : undefined;
    const source = sourceOfWriteKey(request, queryKey, 'query', sources);
    checkOrigin(source, request);
    return send(reply, rudderSourceConfig(source, loadedAt));
  };
  app.get('/sourceConfig', sourceConfig);
  app.get('/sourceConfig/', sourceConfig);

  // Segment's libraries' telemetry (analytics-kotlin MetricsRequestFactory: POST https://{apiHost}/m, text/plain,
  // gzip, no write key): counters about the library itself, not events. It reaches us only when a client sets its
  // telemetry host to ours (the settings turn it off); it is answered 204 and discarded, and not counted as a
  // refused request: refusing would make a well-behaved client look like an attack in tagflow_requests_refused_total.
  app.post('/v1/m', async (_request, reply) => reply.code(204).send());
}
