// The collector's one configuration object: built once at start from a JSON file plus environment,
// then passed down. No other module reads process.env.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { checkContainer, type Container } from './ingest/container';
import { isObject, maxIdLength } from './ingest/event';
import { normalizeOrigin } from './origin';
import { consentIdShape } from './query/export';
import { assertIdentifier } from './warehouse/client';

/** A site or app that sends events, identified by its write key. */
export interface SourceConfig {
  /** Stable name stored with each event (the write key itself may be rotated). */
  id: string;
  writeKey: string;
  /** Browser origins allowed to send with this key (`*` for any; server libraries send no Origin). */
  allowedOrigins: string[];
  /** Keep the full client IP instead of its /24 (IPv4) or /48 (IPv6) network. Off by default. */
  keepFullIp: boolean;
  /** Requests per second each client (address, IPv6 /64) may send to this source (a token bucket each); over it 429 with Retry-After. */
  rateLimit?: RateLimitConfig;
  /** What to do with events whose consent (Segment, Consent Mode or RudderStack shapes) denies analytics (see docs/collector.md). Default 'strip'. */
  consentPolicy?: ConsentPolicy;
  /** The consent platform's ids for analytics (OneTrust's `C0002`, …), besides `analytics` itself (see docs/collector.md). */
  analyticsConsentIds?: string[];
  /**
   * The consent platform's ids for marketing (OneTrust's `C0004`, …), besides `marketing`, `advertising` and Consent
   * Mode's ad keys: a segment export to an ad platform leaves out persons whose latest consent denies one of them.
   */
  marketingConsentIds?: string[];
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
  /** Rate-limit buckets (one per source and client) kept at most; past it full ones, then the least recently used, are forgotten. */
  rateLimitClients: number;
  /** Query-API requests that use ClickHouse at once (funnels, materialize, members, exports; routes/query-limiter.ts). */
  queryConcurrency: number;
  /** Query-API requests that may wait for one of those slots (0: none); past it 429 with Retry-After. */
  queryQueue: number;
  /** ClickHouse stops a query-API query after this long (max_execution_time); the answer is 504. */
  queryTimeoutSeconds: number;
  /**
   * ClickHouse stops a query-API query that would use more memory than this (max_memory_usage, bytes), so that a
   * large funnel or export cannot take the memory ingestion and the jobs need; the answer is 507.
   */
  queryMaxMemoryBytes: number;
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
  rateLimitClients: 100_000,
  queryConcurrency: 2,
  queryQueue: 8,
  queryTimeoutSeconds: 60,
  // Five times the largest peak measured on the bench's 10M events (an export of 507,081 contacts: 1.5 GiB for its
  // counts, 1.6 GiB for its rows, on 18.16); funnels peaked at 0.5 GiB, materialisations at 0.3, member pages at 0.03
  // (docs/collector.md, query API capacity). Room for data several times larger, while two slots cannot take all of
  // a 24 GiB machine.
  queryMaxMemoryBytes: 8 * 1024 ** 3,
};

export const defaultSpool: Omit<SpoolConfig, 'dir'> = { maxBytes: 1024 ** 3, segmentBytes: 64 * 1024 ** 2 };

export const defaultShipper: ShipperConfig = { maxRows: 10_000, maxBytes: 8 * 1024 ** 2, intervalMs: 1000, idleMs: 100, maxBackoffMs: 5000 };

export interface CollectorConfig {
  host: string;
  port: number;
  clickhouse: { url: string; database: string };
  sources: SourceConfig[];
  /** Serve the demo shop at / (development only; the SDK build under /sdk/ is served either way). */
  serveDemo: boolean;
  /** Proxies (addresses or CIDRs) whose X-Forwarded-For is believed; none by default, so the socket address is used. */
  trustedProxies?: string[];
  /**
   * Where clients reach this collector (`https://shop.example.com/tagflow`: scheme, host, optional port and path
   * prefix, no trailing slash), named in the Segment settings it serves. Unset: the host the request came to.
   */
  publicUrl?: string;
  limits?: Partial<LimitsConfig>;
  /** Without a spool directory the collector spools to a fresh temporary directory (tests only). */
  spool?: Partial<SpoolConfig>;
  shipper?: Partial<ShipperConfig>;
  /**
   * Browser origins (a web admin tool) that may call the query API (/v1/query/*, /v1/segments*, /v1/currency-rates*)
   * with every method it has and read an export's headers; the SDK's paths answer only the sources' allowedOrigins.
   */
  adminOrigins?: string[];
  /** Bearer token for the query and segment APIs and GET /metrics (separate from write keys); unset: those answer 401. */
  adminToken?: string;
  /** Serve GET /metrics without the admin token (a scrape on a private network). Off by default. */
  publicMetrics?: boolean;
  /** Periodic warehouse jobs (identity resolution, segment refresh); seconds, 0 turns one off. */
  warehouseJobs?: WarehouseJobsConfig;
  /**
   * Values that identify no one besides the built-in placeholders (ingest/placeholder-ids.ts), compared
   * case-insensitively after trimming: ids (`abc123`) ingest takes off events, and e-mails or phones
   * (`test@example.com`) the identity job makes no node of. For the whole collector, not per source: the identity
   * graph they would merge is one for all sources.
   */
  blockedIds?: string[];
}

export interface WarehouseJobsConfig {
  identityIntervalSeconds: number;
  segmentIntervalSeconds: number;
  /**
   * How far back (by `received_at`) each identity run looks again for events that reached ClickHouse late.
   * Widen it for a while after an outage longer than it: spooled events are shipped with their old `received_at`.
   */
  identityOverlapSeconds: number;
  /**
   * How long a job's lease lasts without renewal (default 60; warehouse/jobs.ts): collectors sharing a database
   * run each job on one of them at a time, and a collector that dies holds its jobs for at most this long.
   */
  leaseSeconds?: number;
}

/** A configuration problem, reported as one sentence at start. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

type Env = Record<string, string | undefined>;
type JsonObject = Record<string, unknown>;

/** An environment variable; empty counts as unset (as `PORT=` in a shell or compose file means), never as a value. */
function fromEnv(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === '' ? undefined : value;
}

const settingPath = (where: string, key: string): string => (where ? `${where}.${key}` : key);

/** Every key of `raw` must be one of `known`: a misspelt key would otherwise leave its default in place without a word. */
function knownKeys(raw: JsonObject, known: readonly string[], where: string): void {
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) throw new ConfigError(`${settingPath(where, key)} is not a known setting; known: ${known.join(', ')}`);
  }
}

function positive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

/** A section of numbers: every key must be one of `defaults`' and a positive number. */
function numbers<T extends object>(raw: unknown, defaults: T, where: string): Partial<T> {
  if (raw === undefined) return {};
  if (!isObject(raw)) throw new ConfigError(`${where} must be an object`);
  knownKeys(raw, Object.keys(defaults), where);
  for (const [key, value] of Object.entries(raw)) {
    if (!positive(value)) throw new ConfigError(`${where}.${key} must be a positive number`);
  }
  return raw as Partial<T>;
}

/**
 * Limits that count (slots, places, whole seconds ClickHouse takes) and the least each may be: a queue of 0 is
 * meaningful (refuse as soon as every slot is taken), no slot or a 0-second limit is not.
 */
const wholeLimits: Partial<Record<string, number>> = { queryConcurrency: 1, queryQueue: 0, queryTimeoutSeconds: 1, queryMaxMemoryBytes: 1 };

/** The limits section: every key known, each a positive number, and a whole one of at least its least where it counts. */
function parseLimits(raw: unknown): Partial<LimitsConfig> {
  if (raw === undefined) return {};
  if (!isObject(raw)) throw new ConfigError('limits must be an object');
  knownKeys(raw, Object.keys(defaultLimits), 'limits');
  for (const [key, value] of Object.entries(raw)) {
    const least = wholeLimits[key];
    if (least === undefined) {
      if (!positive(value)) throw new ConfigError(`limits.${key} must be a positive number`);
    } else if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < least) {
      const wanted = least === 0 ? 'a whole number, 0 or more' : `a whole number, at least ${least}`;
      throw new ConfigError(`limits.${key} must be ${wanted}, not ${JSON.stringify(value)}`);
    }
  }
  return raw as Partial<LimitsConfig>;
}

/** TAGFLOW_QUERY_MAX_MEMORY_BYTES, which overrides limits.queryMaxMemoryBytes: digits only, at least 1. */
function parseQueryMemory(env: Env): Pick<LimitsConfig, 'queryMaxMemoryBytes'> | undefined {
  const text = fromEnv(env, 'TAGFLOW_QUERY_MAX_MEMORY_BYTES');
  if (text === undefined) return undefined;
  const bytes = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new ConfigError(`TAGFLOW_QUERY_MAX_MEMORY_BYTES must be a whole number of bytes, at least 1, not ${JSON.stringify(text)} (the default is ${defaultLimits.queryMaxMemoryBytes}, 8 GiB)`);
  }
  return { queryMaxMemoryBytes: bytes };
}

/** How long a warehouse job's lease lasts without renewal (warehouse/jobs.ts). */
export const defaultLeaseSeconds = 60;

const warehouseJobKeys = ['identityIntervalSeconds', 'segmentIntervalSeconds', 'identityOverlapSeconds', 'leaseSeconds'] as const;

function parseWarehouseJobs(raw: unknown): WarehouseJobsConfig {
  const value = raw ?? {};
  if (!isObject(value)) throw new ConfigError('warehouseJobs must be an object');
  knownKeys(value, warehouseJobKeys, 'warehouseJobs');
  const interval = (key: (typeof warehouseJobKeys)[number], fallback: number): number => {
    const n = value[key] ?? fallback;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new ConfigError(`warehouseJobs.${key} must be a number of seconds (0 turns it off)`);
    return n;
  };
  // Not an interval: 0 would not turn the overlap off but lose every retry that reached ClickHouse after the
  // run's checkpoint.
  const identityOverlapSeconds = value.identityOverlapSeconds ?? 86_400;
  if (!positive(identityOverlapSeconds)) throw new ConfigError('warehouseJobs.identityOverlapSeconds must be a positive number of seconds');
  // The lease is renewed every third of it and its holder stops 2 s early (warehouse/lease.ts): 10 s at least.
  const leaseSeconds = value.leaseSeconds ?? defaultLeaseSeconds;
  if (!(typeof leaseSeconds === 'number' && Number.isFinite(leaseSeconds) && leaseSeconds >= 10)) {
    throw new ConfigError('warehouseJobs.leaseSeconds must be a number of seconds, at least 10');
  }
  return { identityIntervalSeconds: interval('identityIntervalSeconds', 60), segmentIntervalSeconds: interval('segmentIntervalSeconds', 900), identityOverlapSeconds, leaseSeconds };
}

/** Both numbers or none: a burst without its rate (or the reverse) has no sensible default. */
function parseRateLimit(raw: unknown, where: string): RateLimitConfig {
  if (raw === undefined) return { ...defaultRateLimit };
  const { requestsPerSecond, burst } = numbers(raw, defaultRateLimit, where);
  if (requestsPerSecond === undefined || burst === undefined) throw new ConfigError(`${where} needs both requestsPerSecond and burst (positive numbers)`);
  return { requestsPerSecond, burst };
}

/** The admin tool's origins: TAGFLOW_ADMIN_ORIGINS (comma-separated) over the file's adminOrigins, checked alike. */
function parseAdminOrigins(env: Env, file: JsonObject): string[] {
  const text = fromEnv(env, 'TAGFLOW_ADMIN_ORIGINS');
  if (text === undefined) return parseOrigins(file.adminOrigins ?? [], 'adminOrigins');
  return parseOrigins(
    text.split(',').map((origin) => origin.trim()).filter(Boolean),
    'TAGFLOW_ADMIN_ORIGINS',
  );
}

function parseOrigins(raw: unknown, where: string): string[] {
  if (!Array.isArray(raw) || !raw.every((o) => typeof o === 'string')) throw new ConfigError(`${where} must be an array of origins`);
  return raw.map((value: string) => {
    const checked = normalizeOrigin(value);
    if (!checked.ok) throw new ConfigError(`${where}: ${checked.problem}`);
    return checked.origin;
  });
}

/** A source's settings, as docs/collector.md lists them. */
export const sourceKeys = ['id', 'writeKey', 'allowedOrigins', 'keepFullIp', 'consentPolicy', 'analyticsConsentIds', 'marketingConsentIds', 'rateLimit', 'container'] as const;

/** Ids as consent platforms write them: a list of non-empty strings (an empty list would name nothing). */
function parseConsentIds(raw: unknown, where: string): string[] {
  if (!Array.isArray(raw) || raw.length === 0 || !raw.every((id) => typeof id === 'string' && id.trim() !== '')) {
    throw new ConfigError(`${where} must be a non-empty array of consent ids (strings), like ["C0002"]`);
  }
  return raw as string[];
}

/** Marketing ids are matched inside the stored consent JSON by exports: the shape an export's own ids must have. */
function parseMarketingConsentIds(raw: unknown, where: string): string[] {
  const ids = parseConsentIds(raw, where);
  const odd = ids.find((id) => !consentIdShape.test(id));
  if (odd !== undefined) throw new ConfigError(`${where} holds ${JSON.stringify(odd)}: consent ids here are letters, digits, _, . and - (at most 64 characters)`);
  return ids;
}

function parseSource(raw: unknown, where: string): SourceConfig {
  if (!isObject(raw)) throw new ConfigError(`${where} must be an object`);
  knownKeys(raw, sourceKeys, where);
  const { id, writeKey, allowedOrigins = [], keepFullIp = false, consentPolicy = 'strip' } = raw;
  if (typeof id !== 'string' || !id) throw new ConfigError(`${where}.id must be a non-empty string`);
  if (typeof writeKey !== 'string' || writeKey.length < 8) throw new ConfigError(`${where}.writeKey must be a string of at least 8 characters`);
  // Segment's libraries send the key as the Basic-auth user name, which ends at the first ":".
  if (writeKey.includes(':')) throw new ConfigError(`${where}.writeKey must not contain ":": Basic auth ends the user name there, so the key could never be sent that way`);
  // A space or line break pasted with the key (or a control character) would make it one no client sends.
  if (/[\s\x00-\x1f\x7f]/.test(writeKey)) throw new ConfigError(`${where}.writeKey must not contain spaces, line breaks or control characters: ${JSON.stringify(writeKey)}`);
  if (typeof keepFullIp !== 'boolean') throw new ConfigError(`${where}.keepFullIp must be true or false`);
  if (consentPolicy !== 'strip' && consentPolicy !== 'drop') throw new ConfigError(`${where}.consentPolicy must be "strip" or "drop"`);
  const source: SourceConfig = {
    id,
    writeKey,
    allowedOrigins: parseOrigins(allowedOrigins, `${where}.allowedOrigins`),
    keepFullIp,
    consentPolicy,
    rateLimit: parseRateLimit(raw.rateLimit, `${where}.rateLimit`),
  };
  if (raw.analyticsConsentIds !== undefined) source.analyticsConsentIds = parseConsentIds(raw.analyticsConsentIds, `${where}.analyticsConsentIds`);
  if (raw.marketingConsentIds !== undefined) source.marketingConsentIds = parseMarketingConsentIds(raw.marketingConsentIds, `${where}.marketingConsentIds`);
  if (raw.container === undefined) return source;
  const container = checkContainer(raw.container);
  if (!container.ok) throw new ConfigError(`${where}.container: ${container.problems.join('; ')}`);
  return { ...source, container: container.container };
}

/** Ids name a source's rate-limit bucket, metrics and stored events; write keys pick the source: both must be unique. */
function checkUnique(sources: SourceConfig[], label: string): void {
  const ids = new Map<string, number>();
  const keys = new Map<string, number>();
  sources.forEach((source, index) => {
    const sameId = ids.get(source.id);
    if (sameId !== undefined) {
      throw new ConfigError(`${label}[${index}].id ${JSON.stringify(source.id)} is already the id of ${label}[${sameId}]: each source needs its own id (it names its rate limit, metrics and stored events)`);
    }
    const sameKey = keys.get(source.writeKey);
    if (sameKey !== undefined) throw new ConfigError(`${label}[${index}].writeKey is the same as ${label}[${sameKey}]'s: each source needs its own write key`);
    ids.set(source.id, index);
    keys.set(source.writeKey, index);
  });
}

/** TAGFLOW_SOURCES (the sources as a JSON array, write keys kept out of files) replaces the file's. */
function parseSources(env: Env, file: JsonObject): SourceConfig[] {
  const text = fromEnv(env, 'TAGFLOW_SOURCES');
  const label = text === undefined ? 'sources' : 'TAGFLOW_SOURCES';
  let raw: unknown = file.sources ?? [];
  if (text !== undefined) {
    try {
      raw = JSON.parse(text);
    } catch {
      raw = undefined;
    }
  }
  if (!Array.isArray(raw)) {
    throw new ConfigError(text === undefined ? 'sources must be an array' : 'TAGFLOW_SOURCES must be a JSON array of sources like [{"id": "web", "writeKey": "..."}]');
  }
  const sources = raw.map((source, index) => parseSource(source, `${label}[${index}]`));
  checkUnique(sources, label);
  if (sources.length === 0) throw new ConfigError('no sources are configured: add at least one {id, writeKey} to "sources" in the file named by TAGFLOW_CONFIG');
  return sources;
}

/** The spool holds rows for one database, so by default each database gets its own directory. */
function parseSpool(raw: unknown, dirOverride: string | undefined, database: string): Partial<SpoolConfig> {
  if (raw !== undefined && !isObject(raw)) throw new ConfigError('spool must be an object');
  if (raw !== undefined) knownKeys(raw, ['dir', ...Object.keys(defaultSpool)], 'spool');
  const { dir = `.data/spool/${database}`, ...sizes } = raw ?? {};
  if (typeof dir !== 'string' || !dir) throw new ConfigError('spool.dir must be a directory path');
  return { ...numbers(sizes, defaultSpool, 'spool'), dir: resolve(dirOverride ?? dir) };
}

/** Proxy-addr's (Fastify's trustProxy) forms the docs name: an address, a CIDR, or one of its named ranges. */
function isProxy(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  if (['loopback', 'linklocal', 'uniquelocal'].includes(value)) return true;
  const [address = '', prefix, ...rest] = value.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128));
}

function parseProxies(env: Env, file: JsonObject): string[] {
  const text = fromEnv(env, 'TAGFLOW_TRUSTED_PROXIES');
  const raw = text === undefined ? (file.trustedProxies ?? []) : text.split(',').map((p) => p.trim()).filter(Boolean);
  if (!Array.isArray(raw)) throw new ConfigError('trustedProxies must be an array of addresses or CIDRs');
  raw.forEach((proxy: unknown, index) => {
    const where = text === undefined ? `trustedProxies[${index}]` : 'TAGFLOW_TRUSTED_PROXIES';
    if (!isProxy(proxy)) throw new ConfigError(`${where}: ${JSON.stringify(proxy)} is not an IP address or CIDR (like 10.0.0.0/8)`);
  });
  return raw as string[];
}

type PublicUrlCheck = { ok: true; url: string } | { ok: false; problem: string };

/**
 * `value` as the base clients put `/v1/…` after, in one spelling (lower-case scheme and host, no default port,
 * no trailing slash), or what is wrong with it: it must be an absolute http(s) URL, without what a base cannot
 * carry (a query, a fragment) or what must never be handed to clients (a user name or password).
 */
function checkPublicUrl(value: unknown): PublicUrlCheck {
  if (typeof value !== 'string') return { ok: false, problem: 'is not a string' };
  // `new URL` would read `https:collect.example.com` as https://collect.example.com/: ask for the form everyone writes.
  if (!/^https?:\/\/[^/?#]/i.test(value)) return { ok: false, problem: 'is not an absolute http(s) URL' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, problem: 'is not a URL' };
  }
  if (value.includes('?')) return { ok: false, problem: 'has a query (?…), which clients would not keep' };
  if (value.includes('#')) return { ok: false, problem: 'has a fragment (#…), which clients would not send' };
  if (url.username !== '' || url.password !== '') return { ok: false, problem: 'has a user name or password, which would be handed to every client' };
  // The collector's own paths start with /v1: a public URL ending in it would have clients send to …/v1/v1/b.
  if (/\/v1\/*$/i.test(url.pathname)) return { ok: false, problem: 'ends in /v1: give the URL of the collector itself, the one /v1/batch is under' };
  return { ok: true, url: `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}` };
}

/** Where clients reach the collector (publicUrl, or TAGFLOW_PUBLIC_URL); unset by default. */
function parsePublicUrl(env: Env, file: JsonObject): string | undefined {
  const text = fromEnv(env, 'TAGFLOW_PUBLIC_URL');
  const value = text ?? file.publicUrl;
  if (value === undefined) return undefined;
  const checked = checkPublicUrl(value);
  if (!checked.ok) {
    throw new ConfigError(
      `${text === undefined ? 'publicUrl' : 'TAGFLOW_PUBLIC_URL'} ${JSON.stringify(value)} ${checked.problem}; it must be the URL clients reach this collector at, like "https://collect.example.com" or "https://shop.example.com/tagflow"`,
    );
  }
  return checked.url;
}

function parseHost(env: Env, file: JsonObject): string {
  const host = fromEnv(env, 'HOST') ?? file.host ?? '127.0.0.1';
  if (typeof host !== 'string' || !host) throw new ConfigError(`host must be a host name or IP address to listen on (like "0.0.0.0"), not ${JSON.stringify(host)}`);
  return host;
}

function parsePort(env: Env, file: JsonObject): number {
  const text = fromEnv(env, 'PORT');
  if (text !== undefined) {
    if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new ConfigError(`PORT must be a port number (0 to 65535), not ${JSON.stringify(text)}`);
    return Number(text);
  }
  const port = file.port ?? 8080;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`port must be a port number (0 to 65535), not ${JSON.stringify(port)}`);
  return port;
}

/** The name goes into SQL as an identifier, so it is checked with the warehouse's own rule. */
function parseDatabase(env: Env, file: JsonObject): string {
  const text = fromEnv(env, 'CLICKHOUSE_DATABASE');
  const name = text ?? file.database ?? 'tagflow';
  try {
    if (typeof name !== 'string') throw new Error('not a string');
    return assertIdentifier(name);
  } catch {
    throw new ConfigError(`${text === undefined ? 'database' : 'CLICKHOUSE_DATABASE'} must be a ClickHouse database name (letters, digits and _, not starting with a digit), not ${JSON.stringify(name)}`);
  }
}

function parseClickHouseUrl(env: Env): string {
  const url = fromEnv(env, 'CLICKHOUSE_URL') ?? 'http://127.0.0.1:8123';
  let protocol = '';
  try {
    protocol = new URL(url).protocol;
  } catch {
    // reported below
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new ConfigError(`CLICKHOUSE_URL must be an http(s) URL like http://127.0.0.1:8123, not ${JSON.stringify(url)}`);
  return url;
}

function parseServeDemo(env: Env, file: JsonObject): boolean {
  const flag = fromEnv(env, 'TAGFLOW_DEMO');
  if (flag !== undefined) {
    if (flag !== '0' && flag !== '1') throw new ConfigError(`TAGFLOW_DEMO must be 1 (serve the demo shop) or 0, not ${JSON.stringify(flag)}`);
    return flag === '1';
  }
  const serveDemo = file.serveDemo ?? false;
  if (typeof serveDemo !== 'boolean') throw new ConfigError('serveDemo must be true or false');
  return serveDemo;
}

function parseAdminToken(env: Env, file: JsonObject, sources: SourceConfig[]): string | undefined {
  const adminToken = fromEnv(env, 'TAGFLOW_ADMIN_TOKEN') ?? file.adminToken;
  if (adminToken === undefined) return undefined;
  if (typeof adminToken !== 'string' || adminToken.length < 16) {
    throw new ConfigError('adminToken (or TAGFLOW_ADMIN_TOKEN) must be a string of at least 16 characters');
  }
  if (sources.some((source) => source.writeKey === adminToken)) throw new ConfigError('adminToken must differ from every write key');
  return adminToken;
}

function parsePublicMetrics(file: JsonObject): boolean {
  const publicMetrics = file.publicMetrics ?? false;
  if (typeof publicMetrics !== 'boolean') throw new ConfigError('publicMetrics must be true or false');
  return publicMetrics;
}

function readConfigFile(name: string | undefined): JsonObject {
  if (name === undefined) return {};
  const path = resolve(name);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError(`cannot read the config file ${path} (TAGFLOW_CONFIG)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!isObject(parsed)) throw new ConfigError(`the config file ${path} is not a JSON object`);
  return parsed;
}

/**
 * blockedIds, or TAGFLOW_BLOCKED_IDS (comma-separated) over it: non-empty strings of at most the id length (a longer
 * one could match no id, e-mail or phone stored).
 */
function parseBlockedIds(env: Env, file: JsonObject): string[] {
  const text = fromEnv(env, 'TAGFLOW_BLOCKED_IDS');
  if (text !== undefined) {
    const values = text.split(',').filter((value) => value.trim() !== '');
    const long = values.find((value) => value.trim().length > maxIdLength);
    if (long !== undefined) throw new ConfigError(`TAGFLOW_BLOCKED_IDS: ${JSON.stringify(long.trim())} is over ${maxIdLength} characters, longer than any id stored`);
    return values;
  }
  const raw = file.blockedIds ?? [];
  if (!Array.isArray(raw)) throw new ConfigError('blockedIds must be a list of values that identify no one, like ["abc123", "test@example.com"]');
  raw.forEach((value: unknown, i) => {
    if (typeof value !== 'string' || value.trim() === '' || value.trim().length > maxIdLength) {
      throw new ConfigError(`blockedIds[${i}] must be a non-empty string of at most ${maxIdLength} characters, not ${JSON.stringify(value)}`);
    }
  });
  return raw as string[];
}

/** The config file's settings, as docs/collector.md lists them. */
export const fileKeys = ['host', 'port', 'database', 'trustedProxies', 'publicUrl', 'sources', 'limits', 'spool', 'shipper', 'adminToken', 'adminOrigins', 'publicMetrics', 'warehouseJobs', 'serveDemo', 'blockedIds'] as const;

/** Builds the config from an optional JSON file (TAGFLOW_CONFIG) and environment overrides. */
export function loadConfig(env: Env = process.env): CollectorConfig {
  const file = readConfigFile(fromEnv(env, 'TAGFLOW_CONFIG'));
  knownKeys(file, fileKeys, '');
  const sources = parseSources(env, file);
  const adminToken = parseAdminToken(env, file, sources);
  const database = parseDatabase(env, file);
  const publicUrl = parsePublicUrl(env, file);
  return {
    host: parseHost(env, file),
    port: parsePort(env, file),
    clickhouse: { url: parseClickHouseUrl(env), database },
    sources,
    serveDemo: parseServeDemo(env, file),
    trustedProxies: parseProxies(env, file),
    ...(publicUrl === undefined ? {} : { publicUrl }),
    limits: { ...parseLimits(file.limits), ...parseQueryMemory(env) },
    spool: parseSpool(file.spool, fromEnv(env, 'TAGFLOW_SPOOL_DIR'), database),
    shipper: numbers(file.shipper, defaultShipper, 'shipper'),
    ...(adminToken === undefined ? {} : { adminToken }),
    adminOrigins: parseAdminOrigins(env, file),
    publicMetrics: parsePublicMetrics(file),
    warehouseJobs: parseWarehouseJobs(file.warehouseJobs),
    blockedIds: parseBlockedIds(env, file),
  };
}
