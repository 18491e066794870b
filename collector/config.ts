// The collector's one configuration object: built once at start from a JSON file plus environment,
// then passed down. No other module reads process.env.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkContainer, type Container } from './ingest/container';
import { isObject } from './ingest/event';

/** A site or app that sends events, identified by its write key. */
export interface SourceConfig {
  /** Stable name stored with each event (the write key itself may be rotated). */
  id: string;
  writeKey: string;
  /** Browser origins allowed to send with this key (`*` for any; server libraries send no Origin). */
  allowedOrigins: string[];
  /** Keep the full client IP instead of its /24 (IPv4) or /48 (IPv6) network. Off by default. */
  keepFullIp: boolean;
  /** Requests per second this source may send (token bucket); over it the answer is 429 with Retry-After. */
  rateLimit?: RateLimitConfig;
  /** What to do with events whose `context.consent` denies analytics (see docs/collector.md). Default 'strip'. */
  consentPolicy?: ConsentPolicy;
  /** The tag container served at GET /v1/container/:writeKey (validated at load). */
  container?: Container;
}

/** `strip`: store the event without anonymousId, userId, IP, traits and other identifiers; `drop`: do not store it. */
export type ConsentPolicy = 'strip' | 'drop';

export interface RateLimitConfig {
  requestsPerSecond: number;
  /** Requests allowed at once above the steady rate. */
  burst: number;
}

/** Request and event limits (Segment's by default). */
export interface LimitsConfig {
  eventBytes: number;
  requestBytes: number;
  /** Skew correction moves a timestamp by at most this much. */
  maxClockSkewSeconds: number;
  /** Events dated further ahead than this (after skew correction) are quarantined. */
  maxFutureSeconds: number;
  /** Events dated further back than this are quarantined. */
  maxAgeDays: number;
  /** A body that has not fully arrived after this long is refused with 408. */
  bodyTimeoutSeconds: number;
}

/** The on-disk spool every accepted event is written to before the 200. */
export interface SpoolConfig {
  dir: string;
  /** Past this many unshipped bytes the collector answers 503 with Retry-After. */
  maxBytes: number;
  segmentBytes: number;
}

/** How the shipper batches spooled events into ClickHouse inserts. */
export interface ShipperConfig {
  maxRows: number;
  maxBytes: number;
  /** A partial batch is inserted after waiting this long for more. */
  intervalMs: number;
  /** ... or as soon as nothing new has been spooled for this long (the traffic paused or stopped). */
  idleMs: number;
  /** Retries while ClickHouse is down back off up to this delay. */
  maxBackoffMs: number;
}

export const defaultRateLimit: RateLimitConfig = { requestsPerSecond: 1000, burst: 2000 };

export const defaultLimits: LimitsConfig = {
  eventBytes: 32 * 1024,
  requestBytes: 500 * 1024,
  maxClockSkewSeconds: 7 * 86_400,
  maxFutureSeconds: 86_400,
  maxAgeDays: 365,
  bodyTimeoutSeconds: 10,
};

export const defaultSpool: Omit<SpoolConfig, 'dir'> = { maxBytes: 1024 ** 3, segmentBytes: 64 * 1024 ** 2 };

export const defaultShipper: ShipperConfig = { maxRows: 10_000, maxBytes: 8 * 1024 ** 2, intervalMs: 1000, idleMs: 100, maxBackoffMs: 5000 };

export interface CollectorConfig {
  host: string;
  port: number;
  clickhouse: { url: string; database: string };
  sources: SourceConfig[];
  /** Serve the demo shop and the SDK build (development only). */
  serveDemo: boolean;
  /** Proxies (addresses or CIDRs) whose X-Forwarded-For is believed; none by default, so the socket address is used. */
  trustedProxies?: string[];
  limits?: Partial<LimitsConfig>;
  /** Without a spool directory the collector spools to a fresh temporary directory (tests only). */
  spool?: Partial<SpoolConfig>;
  shipper?: Partial<ShipperConfig>;
  /** Bearer token for the query and segment APIs (separate from write keys); unset: those APIs answer 401. */
  adminToken?: string;
  /** Periodic warehouse jobs (identity resolution, segment refresh); seconds, 0 turns one off. */
  warehouseJobs?: WarehouseJobsConfig;
}

export interface WarehouseJobsConfig {
  identityIntervalSeconds: number;
  segmentIntervalSeconds: number;
}

function parseWarehouseJobs(raw: unknown): WarehouseJobsConfig {
  const value = raw ?? {};
  if (!isObject(value)) throw new ConfigError('warehouseJobs must be an object');
  const seconds = (key: string, fallback: number): number => {
    const n = value[key] ?? fallback;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new ConfigError(`warehouseJobs.${key} must be a number of seconds (0 turns it off)`);
    return n;
  };
  return { identityIntervalSeconds: seconds('identityIntervalSeconds', 60), segmentIntervalSeconds: seconds('segmentIntervalSeconds', 900) };
}

/** A configuration problem, reported as one sentence at start. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

function positive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

/** A section of numbers: every key must be one of `defaults`' and a positive number. */
function numbers<T extends object>(raw: unknown, defaults: T, where: string): Partial<T> {
  if (raw === undefined) return {};
  if (!isObject(raw)) throw new ConfigError(`${where} must be an object`);
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in defaults)) throw new ConfigError(`${where}.${key} is not a known setting; known: ${Object.keys(defaults).join(', ')}`);
    if (!positive(value)) throw new ConfigError(`${where}.${key} must be a positive number`);
  }
  return raw as Partial<T>;
}

function parseSource(raw: unknown, index: number): SourceConfig {
  const where = `sources[${index}]`;
  if (!isObject(raw)) throw new ConfigError(`${where} must be an object`);
  const { id, writeKey, allowedOrigins = [], keepFullIp = false, consentPolicy = 'strip', rateLimit = defaultRateLimit } = raw;
  if (typeof id !== 'string' || !id) throw new ConfigError(`${where}.id must be a non-empty string`);
  if (typeof writeKey !== 'string' || writeKey.length < 8) throw new ConfigError(`${where}.writeKey must be a string of at least 8 characters`);
  if (!Array.isArray(allowedOrigins) || !allowedOrigins.every((o) => typeof o === 'string')) {
    throw new ConfigError(`${where}.allowedOrigins must be an array of origins`);
  }
  if (typeof keepFullIp !== 'boolean') throw new ConfigError(`${where}.keepFullIp must be true or false`);
  if (consentPolicy !== 'strip' && consentPolicy !== 'drop') throw new ConfigError(`${where}.consentPolicy must be "strip" or "drop"`);
  if (!isObject(rateLimit) || !positive(rateLimit.requestsPerSecond) || !positive(rateLimit.burst)) {
    throw new ConfigError(`${where}.rateLimit must be {"requestsPerSecond": n, "burst": n} with positive numbers`);
  }
  const source: SourceConfig = { id, writeKey, allowedOrigins, keepFullIp, consentPolicy, rateLimit: { requestsPerSecond: rateLimit.requestsPerSecond, burst: rateLimit.burst } };
  if (raw.container === undefined) return source;
  const container = checkContainer(raw.container);
  if (!container.ok) throw new ConfigError(`${where}.container: ${container.problems.join('; ')}`);
  return { ...source, container: container.container };
}

/** TAGFLOW_SOURCES: the sources as a JSON array, replacing the file's (write keys kept out of files). */
function sourcesFromEnv(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigError('TAGFLOW_SOURCES must be a JSON array of sources like [{"id": "web", "writeKey": "..."}]');
  }
}

/** The spool holds rows for one database, so by default each database gets its own directory. */
function parseSpool(raw: unknown, dirOverride: string | undefined, database: string): Partial<SpoolConfig> {
  if (raw !== undefined && !isObject(raw)) throw new ConfigError('spool must be an object');
  const { dir = `.data/spool/${database}`, ...sizes } = raw ?? {};
  if (typeof dir !== 'string' || !dir) throw new ConfigError('spool.dir must be a directory path');
  return { ...numbers(sizes, defaultSpool, 'spool'), dir: resolve(dirOverride ?? dir) };
}

function parseProxies(raw: unknown): string[] {
  if (!Array.isArray(raw) || !raw.every((p) => typeof p === 'string')) throw new ConfigError('trustedProxies must be an array of addresses or CIDRs');
  return raw;
}

/** Builds the config from an optional JSON file (TAGFLOW_CONFIG) and environment overrides. */
export function loadConfig(env: Record<string, string | undefined> = process.env): CollectorConfig {
  let file: Record<string, unknown> = {};
  if (env.TAGFLOW_CONFIG) {
    const path = resolve(env.TAGFLOW_CONFIG);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      throw new ConfigError(`cannot read the config file ${path} (TAGFLOW_CONFIG)`);
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (!isObject(parsed)) throw new Error('not an object');
      file = parsed;
    } catch {
      throw new ConfigError(`the config file ${path} is not a JSON object`);
    }
  }
  const rawSources = env.TAGFLOW_SOURCES ? sourcesFromEnv(env.TAGFLOW_SOURCES) : (file.sources ?? []);
  if (!Array.isArray(rawSources)) throw new ConfigError('sources must be an array');
  const sources = rawSources.map(parseSource);
  const keys = new Set<string>();
  for (const source of sources) {
    if (keys.has(source.writeKey)) throw new ConfigError(`write key of source ${source.id} is used twice`);
    keys.add(source.writeKey);
  }
  if (sources.length === 0) throw new ConfigError('no sources are configured: add at least one {id, writeKey} to "sources" in the file named by TAGFLOW_CONFIG');
  const adminToken = env.TAGFLOW_ADMIN_TOKEN ?? file.adminToken;
  if (adminToken !== undefined && (typeof adminToken !== 'string' || adminToken.length < 16)) {
    throw new ConfigError('adminToken (or TAGFLOW_ADMIN_TOKEN) must be a string of at least 16 characters');
  }
  if (typeof adminToken === 'string' && sources.some((source) => source.writeKey === adminToken)) {
    throw new ConfigError('adminToken must differ from every write key');
  }
  const port = Number(env.PORT ?? file.port ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT must be a port number, not ${env.PORT ?? String(file.port)}`);
  const database = env.CLICKHOUSE_DATABASE ?? (typeof file.database === 'string' ? file.database : 'tagflow');
  return {
    host: env.HOST ?? (typeof file.host === 'string' ? file.host : '127.0.0.1'),
    port,
    clickhouse: {
      url: env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123',
      database,
    },
    sources,
    serveDemo: env.TAGFLOW_DEMO === '1' || file.serveDemo === true,
    trustedProxies: parseProxies(env.TAGFLOW_TRUSTED_PROXIES?.split(',').map((p) => p.trim()).filter(Boolean) ?? file.trustedProxies ?? []),
    limits: numbers(file.limits, defaultLimits, 'limits'),
    spool: parseSpool(file.spool, env.TAGFLOW_SPOOL_DIR, database),
    shipper: numbers(file.shipper, defaultShipper, 'shipper'),
    ...(typeof adminToken === 'string' ? { adminToken } : {}),
    warehouseJobs: parseWarehouseJobs(file.warehouseJobs),
  };
}
