// The collector's one configuration object: built once at start from a JSON file plus environment,
// then passed down. No other module reads process.env.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
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
}

export interface CollectorConfig {
  host: string;
  port: number;
  clickhouse: { url: string; database: string };
  sources: SourceConfig[];
  /** Serve the demo shop and the SDK build (development only). */
  serveDemo: boolean;
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

function parseSource(raw: unknown, index: number): SourceConfig {
  const where = `sources[${index}]`;
  if (!isObject(raw)) throw new ConfigError(`${where} must be an object`);
  const { id, writeKey, allowedOrigins = [], keepFullIp = false } = raw;
  if (typeof id !== 'string' || !id) throw new ConfigError(`${where}.id must be a non-empty string`);
  if (typeof writeKey !== 'string' || writeKey.length < 8) throw new ConfigError(`${where}.writeKey must be a string of at least 8 characters`);
  if (!Array.isArray(allowedOrigins) || !allowedOrigins.every((o) => typeof o === 'string')) {
    throw new ConfigError(`${where}.allowedOrigins must be an array of origins`);
  }
  if (typeof keepFullIp !== 'boolean') throw new ConfigError(`${where}.keepFullIp must be true or false`);
  return { id, writeKey, allowedOrigins, keepFullIp };
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
  const rawSources = file.sources ?? [];
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
  return {
    host: env.HOST ?? (typeof file.host === 'string' ? file.host : '127.0.0.1'),
    port,
    clickhouse: {
      url: env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123',
      database: env.CLICKHOUSE_DATABASE ?? (typeof file.database === 'string' ? file.database : 'tagflow'),
    },
    sources,
    serveDemo: env.TAGFLOW_DEMO === '1' || file.serveDemo === true,
    ...(typeof adminToken === 'string' ? { adminToken } : {}),
    warehouseJobs: parseWarehouseJobs(file.warehouseJobs),
  };
}
