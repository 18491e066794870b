import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, defaultLimits, defaultShipper, defaultSpool, fileKeys, loadConfig, sourceKeys, type CollectorConfig } from './config';

const dir = mkdtempSync(join(tmpdir(), 'tagflow-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(config: unknown, env: Record<string, string> = {}) {
  const file = join(dir, `${Math.random()}.json`);
  writeFileSync(file, JSON.stringify(config));
  return loadConfig({ TAGFLOW_CONFIG: file, ...env });
}
const source = { id: 'web', writeKey: 'key-12345678' };

describe('loadConfig', () => {
  it('fills source policies, limits, spool and shipper with their defaults', () => {
    const config = load({ sources: [source] });
    expect(config.sources[0]).toEqual({ ...source, allowedOrigins: [], keepFullIp: false, consentPolicy: 'strip', rateLimit: { requestsPerSecond: 1000, burst: 2000 } });
    expect(config.trustedProxies).toEqual([]);
    expect(config.spool?.dir).toMatch(/\.data\/spool\/tagflow$/);
    expect(load({ sources: [source] }, { CLICKHOUSE_DATABASE: 'other' }).spool?.dir).toMatch(/\.data\/spool\/other$/);
  });

  it('reads overrides from the file and the environment', () => {
    const config = load(
      { sources: [{ ...source, consentPolicy: 'drop', rateLimit: { requestsPerSecond: 5, burst: 10 } }], limits: { eventBytes: 1000 }, spool: { dir: '/tmp/a', maxBytes: 99 }, shipper: { intervalMs: 5 } },
      { TAGFLOW_SPOOL_DIR: '/tmp/b', TAGFLOW_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1' },
    );
    expect(config).toMatchObject({ limits: { eventBytes: 1000 }, spool: { dir: '/tmp/b', maxBytes: 99 }, shipper: { intervalMs: 5 }, trustedProxies: ['10.0.0.0/8', '127.0.0.1'] });
    expect(config.sources[0]).toMatchObject({ consentPolicy: 'drop', rateLimit: { requestsPerSecond: 5, burst: 10 } });
    expect(load({ sources: [{ ...source, analyticsConsentIds: ['C0002'] }] }).sources[0]?.analyticsConsentIds).toEqual(['C0002']);
    expect(load({ sources: [{ ...source, marketingConsentIds: ['C0004'] }] }).sources[0]?.marketingConsentIds).toEqual(['C0004']);
  });

  it('reads blockedIds from the file or TAGFLOW_BLOCKED_IDS (comma-separated), the environment first, and defaults it to none', () => {
    expect(load({ sources: [source] }).blockedIds).toEqual([]);
    expect(load({ sources: [source], blockedIds: ['abc123', 'test@example.com'] }).blockedIds).toEqual(['abc123', 'test@example.com']);
    expect(load({ sources: [source], blockedIds: ['abc123'] }, { TAGFLOW_BLOCKED_IDS: 'void, test@example.com,' }).blockedIds).toEqual(['void', ' test@example.com']);
    expect(() => load({ sources: [source], blockedIds: 'abc123' })).toThrow('blockedIds must be a list of values that identify no one, like ["abc123", "test@example.com"]');
    // The entry that is wrong is named, and what it holds.
    for (const [blockedIds, named] of [
      [['ok', ''], 'blockedIds[1] must be a non-empty string of at most 100 characters, not ""'],
      [['  '], 'blockedIds[0] must be a non-empty string of at most 100 characters, not "  "'],
      [['ok', 'fine', 42], 'blockedIds[2] must be a non-empty string of at most 100 characters, not 42'],
      [['x'.repeat(101)], `blockedIds[0] must be a non-empty string of at most 100 characters, not "${'x'.repeat(101)}"`],
    ] as const) {
      expect(() => load({ sources: [source], blockedIds })).toThrow(named);
    }
    // The variable is comma-separated: its message names the value, not a JSON list.
    expect(() => load({ sources: [source] }, { TAGFLOW_BLOCKED_IDS: `void,${'y'.repeat(101)}` })).toThrow(`TAGFLOW_BLOCKED_IDS: "${'y'.repeat(101)}" is over 100 characters`);
  });

  it('reads the query API limits, a queue of 0 included, and defaults them to 2 running, 8 waiting, 60 s', () => {
    expect(defaultLimits).toMatchObject({ queryConcurrency: 2, queryQueue: 8, queryTimeoutSeconds: 60 });
    const config = load({ sources: [source], limits: { queryConcurrency: 1, queryQueue: 0, queryTimeoutSeconds: 5 } });
    expect(config.limits).toEqual({ queryConcurrency: 1, queryQueue: 0, queryTimeoutSeconds: 5 });
  });

  it('reads the query memory limit from the file or TAGFLOW_QUERY_MAX_MEMORY_BYTES, the environment first', () => {
    expect(defaultLimits.queryMaxMemoryBytes).toBe(8 * 1024 ** 3);
    expect(load({ sources: [source], limits: { queryMaxMemoryBytes: 1_000_000 } }).limits).toEqual({ queryMaxMemoryBytes: 1_000_000 });
    expect(load({ sources: [source] }, { TAGFLOW_QUERY_MAX_MEMORY_BYTES: '2000000' }).limits).toEqual({ queryMaxMemoryBytes: 2_000_000 });
    expect(load({ sources: [source], limits: { queryMaxMemoryBytes: 1_000_000, queryQueue: 3 } }, { TAGFLOW_QUERY_MAX_MEMORY_BYTES: '2000000' }).limits).toEqual({
      queryMaxMemoryBytes: 2_000_000,
      queryQueue: 3,
    });
    expect(load({ sources: [source] }, { TAGFLOW_QUERY_MAX_MEMORY_BYTES: '' }).limits).toEqual({});
  });

  it.each(['0', '-1', '1.5', '4G', ' 100', '1e9', '99999999999999999999'])('refuses TAGFLOW_QUERY_MAX_MEMORY_BYTES=%s, naming the variable', (value) => {
    expect(() => load({ sources: [source] }, { TAGFLOW_QUERY_MAX_MEMORY_BYTES: value })).toThrow(ConfigError);
    expect(() => load({ sources: [source] }, { TAGFLOW_QUERY_MAX_MEMORY_BYTES: value })).toThrow(`TAGFLOW_QUERY_MAX_MEMORY_BYTES must be a whole number of bytes, at least 1, not ${JSON.stringify(value)}`);
  });

  it('takes the sources from TAGFLOW_SOURCES when set, so write keys can stay out of files', () => {
    const config = load({ sources: [source] }, { TAGFLOW_SOURCES: JSON.stringify([{ id: 'env', writeKey: 'env-key-12345' }]) });
    expect(config.sources.map((s) => s.id)).toEqual(['env']);
    expect(() => load({ sources: [source] }, { TAGFLOW_SOURCES: '[{' })).toThrow('TAGFLOW_SOURCES must be a JSON array');
  });

  it.each([
    [{ sources: [{ ...source, consentPolicy: 'maybe' }] }, 'sources[0].consentPolicy must be "strip" or "drop"'],
    [{ sources: [{ ...source, analyticsConsentIds: 'C0002' }] }, 'sources[0].analyticsConsentIds must be a non-empty array of consent ids (strings), like ["C0002"]'],
    [{ sources: [{ ...source, analyticsConsentIds: [] }] }, 'sources[0].analyticsConsentIds must be a non-empty array'],
    [{ sources: [{ ...source, analyticsConsentIds: ['C0002', ' '] }] }, 'sources[0].analyticsConsentIds must be a non-empty array'],
    [{ sources: [{ ...source, marketingConsentIds: [] }] }, 'sources[0].marketingConsentIds must be a non-empty array'],
    [{ sources: [{ ...source, marketingConsentIds: ['C0004', 'a"b'] }] }, 'sources[0].marketingConsentIds holds "a\\"b": consent ids here are letters'],
    [{ sources: [source], limits: { eventByte: 5 } }, 'limits.eventByte is not a known setting'],
    [{ sources: [source], limits: { eventBytes: 0 } }, 'limits.eventBytes must be a positive number'],
    [{ sources: [source], limits: { queryConcurrency: 0 } }, 'limits.queryConcurrency must be a whole number, at least 1, not 0'],
    [{ sources: [source], limits: { queryConcurrency: 1.5 } }, 'limits.queryConcurrency must be a whole number, at least 1, not 1.5'],
    [{ sources: [source], limits: { queryConcurrency: '2' } }, 'limits.queryConcurrency must be a whole number, at least 1, not "2"'],
    [{ sources: [source], limits: { queryQueue: -1 } }, 'limits.queryQueue must be a whole number, 0 or more, not -1'],
    [{ sources: [source], limits: { queryQueue: 2.5 } }, 'limits.queryQueue must be a whole number, 0 or more, not 2.5'],
    [{ sources: [source], limits: { queryTimeoutSeconds: 0.5 } }, 'limits.queryTimeoutSeconds must be a whole number, at least 1, not 0.5'],
    [{ sources: [source], limits: { queryTimeoutSeconds: null } }, 'limits.queryTimeoutSeconds must be a whole number, at least 1, not null'],
    [{ sources: [source], limits: { queryMaxMemoryBytes: 0 } }, 'limits.queryMaxMemoryBytes must be a whole number, at least 1, not 0'],
    [{ sources: [source], limits: { queryMaxMemoryBytes: 1.5e9 + 0.5 } }, 'limits.queryMaxMemoryBytes must be a whole number, at least 1, not 1500000000.5'],
    [{ sources: [source], limits: { queryMaxMemoryBytes: '4G' } }, 'limits.queryMaxMemoryBytes must be a whole number, at least 1, not "4G"'],
    [{ sources: [source], spool: { maxBytes: -1 } }, 'spool.maxBytes must be a positive number'],
    [{ sources: [source], trustedProxies: '10.0.0.1' }, 'trustedProxies must be an array'],
  ])('refuses %j with one sentence', (config, message) => {
    expect(() => load(config)).toThrow(ConfigError);
    expect(() => load(config)).toThrow(message);
  });
});

describe('admin token and warehouse jobs config', () => {
  it('reads the admin token from the file or TAGFLOW_ADMIN_TOKEN, and job intervals with defaults', () => {
    const config = load({ sources: [source], adminToken: 'a-long-admin-token-1' });
    expect(config.adminToken).toBe('a-long-admin-token-1');
    expect(config.warehouseJobs).toEqual({ identityIntervalSeconds: 60, segmentIntervalSeconds: 900, identityOverlapSeconds: 86_400, leaseSeconds: 60 });
    expect(load({ sources: [source] }, { TAGFLOW_ADMIN_TOKEN: 'from-the-environment' }).adminToken).toBe('from-the-environment');
    expect(load({ sources: [source] }).adminToken).toBeUndefined();
  });

  it('refuses a short admin token, one equal to a write key, and negative intervals', () => {
    expect(() => load({ sources: [source], adminToken: 'short' })).toThrow(/adminToken .* at least 16 characters/);
    expect(() => load({ sources: [{ ...source, writeKey: 'write-key-123456' }], adminToken: 'write-key-123456' })).toThrow(/must differ from every write key/);
    expect(() => load({ sources: [source], warehouseJobs: { identityIntervalSeconds: -1 } })).toThrow(/warehouseJobs.identityIntervalSeconds/);
    // After a long outage: a wider look back for late events; 0 would lose retries, so it is refused.
    expect(load({ sources: [source], warehouseJobs: { identityOverlapSeconds: 604_800 } }).warehouseJobs?.identityOverlapSeconds).toBe(604_800);
    for (const bad of [0, -1, '86400']) {
      expect(() => load({ sources: [source], warehouseJobs: { identityOverlapSeconds: bad } })).toThrow(/warehouseJobs.identityOverlapSeconds must be a positive number of seconds$/);
    }
    // The job lease (warehouse/jobs.ts): its length is renewed every third of it, so a few seconds at least.
    expect(load({ sources: [source], warehouseJobs: { leaseSeconds: 120 } }).warehouseJobs?.leaseSeconds).toBe(120);
    for (const bad of [9, 0, '60']) {
      expect(() => load({ sources: [source], warehouseJobs: { leaseSeconds: bad } })).toThrow(/warehouseJobs.leaseSeconds must be a number of seconds, at least 10$/);
    }
  });
});

describe('settings that would be silently ignored or never match', () => {
  it.each([
    [{ sources: [source], database: 42 }, 'database must be a ClickHouse database name'],
    [{ sources: [source], database: 'my-db' }, 'database must be a ClickHouse database name'],
    [{ sources: [source], host: 7 }, 'host must be a host name or IP address'],
    [{ sources: [source], port: '8080' }, 'port must be a port number'],
    [{ sources: [source], serveDemo: 'yes' }, 'serveDemo must be true or false'],
    [{ sources: [source], adminTokn: 'a-long-admin-token-1' }, 'adminTokn is not a known setting; known: host, port'],
    [{ sources: [{ ...source, allowedOrigin: ['https://shop.example.com'] }] }, 'sources[0].allowedOrigin is not a known setting'],
    [{ sources: [{ ...source, ratelimit: { requestsPerSecond: 5, burst: 10 } }] }, 'sources[0].ratelimit is not a known setting'],
    [{ sources: [{ ...source, rateLimit: { requestsPerSecond: 5, burts: 10 } }] }, 'sources[0].rateLimit.burts is not a known setting'],
    [{ sources: [{ ...source, rateLimit: { requestsPerSecond: 5 } }] }, 'sources[0].rateLimit needs both requestsPerSecond and burst'],
    [{ sources: [{ ...source, rateLimit: { requestsPerSecond: 0, burst: 1 } }] }, 'sources[0].rateLimit.requestsPerSecond must be a positive number'],
    [{ sources: [source], warehouseJobs: { identityInterval: 5 } }, 'warehouseJobs.identityInterval is not a known setting'],
    [{ sources: [source], warehouseJobs: { segmentIntervalSeconds: '900' } }, 'warehouseJobs.segmentIntervalSeconds must be a number of seconds'],
  ])('refuses %j naming the setting', (config, message) => {
    expect(() => load(config)).toThrow(ConfigError);
    expect(() => load(config)).toThrow(message);
  });

  it.each([
    [{ PORT: '80a' }, 'PORT must be a port number'],
    [{ CLICKHOUSE_DATABASE: 'my-db' }, 'CLICKHOUSE_DATABASE must be a ClickHouse database name'],
    [{ CLICKHOUSE_URL: 'localhost:8123' }, 'CLICKHOUSE_URL must be an http(s) URL'],
    [{ TAGFLOW_DEMO: 'yes' }, 'TAGFLOW_DEMO must be 1'],
    [{ TAGFLOW_SOURCES: JSON.stringify([{ ...source, ratelimit: {} }]) }, 'TAGFLOW_SOURCES[0].ratelimit is not a known setting'],
  ])('refuses the environment %j naming the variable', (env, message) => {
    expect(() => load({ sources: [source] }, env)).toThrow(ConfigError);
    expect(() => load({ sources: [source] }, env)).toThrow(message);
  });

  it('reads serveDemo from the file, TAGFLOW_DEMO overriding it', () => {
    expect(load({ sources: [source] }).serveDemo).toBe(false);
    expect(load({ sources: [source], serveDemo: true }).serveDemo).toBe(true);
    expect(load({ sources: [source] }, { TAGFLOW_DEMO: '1' }).serveDemo).toBe(true);
    expect(load({ sources: [source], serveDemo: true }, { TAGFLOW_DEMO: '0' }).serveDemo).toBe(false);
  });

  it('treats an empty environment variable as unset (PORT= is not port 0)', () => {
    const config = load({ sources: [source], port: 9000, host: '0.0.0.0' }, { PORT: '', HOST: '', CLICKHOUSE_DATABASE: '' });
    expect(config).toMatchObject({ port: 9000, host: '0.0.0.0', clickhouse: { database: 'tagflow' } });
  });

  it('refuses two sources with one id: they would share a rate-limit bucket and a metrics label', () => {
    const twins = { sources: [source, { id: 'web', writeKey: 'other-key-123' }] };
    expect(() => load(twins)).toThrow(ConfigError);
    expect(() => load(twins)).toThrow('sources[1].id "web" is already the id of sources[0]');
  });

  it('refuses a write key used twice, naming both sources', () => {
    expect(() => load({ sources: [source, { id: 'app', writeKey: source.writeKey }] })).toThrow("sources[1].writeKey is the same as sources[0]'s");
  });

  it('refuses a write key with ":", which Basic auth cuts off at the colon', () => {
    expect(() => load({ sources: [{ id: 'web', writeKey: 'user:pass1' }] })).toThrow('sources[0].writeKey must not contain ":"');
    for (const pasted of ['a-long-key ', ' a-long-key', 'a-long\nkey', 'a-long\u0000key', 'a long key']) {
      expect(() => load({ sources: [{ id: 'web', writeKey: pasted }] })).toThrow(`sources[0].writeKey must not contain spaces, line breaks or control characters: ${JSON.stringify(pasted)}`);
    }
  });

  it('normalises allowed origins to what browsers send in Origin, and keeps "*"', () => {
    const origins = ['https://Shop.Example.com/', 'https://shop.example.com:443', 'HTTP://LOCALHOST:8080', 'http://[::1]:3000', 'capacitor://localhost', '*'];
    expect(load({ sources: [{ ...source, allowedOrigins: origins }] }).sources[0]?.allowedOrigins).toEqual([
      'https://shop.example.com',
      'https://shop.example.com',
      'http://localhost:8080',
      'http://[::1]:3000',
      'capacitor://localhost',
      '*',
    ]);
  });

  it.each([
    ['shop.example.com', 'sources[0].allowedOrigins: "shop.example.com" is not an origin'],
    ['localhost:8080', 'sources[0].allowedOrigins: "localhost:8080" is not an origin'],
    ['https://*.example.com', 'sources[0].allowedOrigins: "https://*.example.com" has a wildcard'],
    ['https://shop.example.com/checkout', 'sources[0].allowedOrigins: "https://shop.example.com/checkout" has a path'],
    ['https://user@shop.example.com', 'sources[0].allowedOrigins: "https://user@shop.example.com" has a user name'],
    ['null', 'sources[0].allowedOrigins: "null" is the origin of sandboxed frames and local files'],
    ['file:///index.html', 'sources[0].allowedOrigins: "file:///index.html" is not an origin a browser sends'],
  ])('refuses the allowed origin %s, which no browser request could match', (origin, message) => {
    expect(() => load({ sources: [{ ...source, allowedOrigins: [origin] }] })).toThrow(ConfigError);
    expect(() => load({ sources: [{ ...source, allowedOrigins: [origin] }] })).toThrow(message);
  });

  it('reads adminOrigins (none by default) and checks them as allowed origins are checked', () => {
    expect(load({ sources: [source] }).adminOrigins).toEqual([]);
    expect(load({ sources: [source], adminOrigins: ['https://Admin.Example.com:443/', '*'] }).adminOrigins).toEqual(['https://admin.example.com', '*']);
    expect(() => load({ sources: [source], adminOrigins: ['admin.example.com'] })).toThrow('adminOrigins: "admin.example.com" is not an origin');
    expect(() => load({ sources: [source], adminOrigins: 'https://admin.example.com' })).toThrow('adminOrigins must be an array of origins');
  });

  it('reads TAGFLOW_ADMIN_ORIGINS (comma-separated) over the file, checked and normalised as adminOrigins are', () => {
    const env = { TAGFLOW_ADMIN_ORIGINS: ' https://Admin.Example.com:443/ , http://localhost:5173,*' };
    expect(load({ sources: [source] }, env).adminOrigins).toEqual(['https://admin.example.com', 'http://localhost:5173', '*']);
    expect(load({ sources: [source], adminOrigins: ['https://file.example'] }, { TAGFLOW_ADMIN_ORIGINS: 'https://env.example' }).adminOrigins).toEqual(['https://env.example']);
    expect(load({ sources: [source], adminOrigins: ['https://file.example'] }, { TAGFLOW_ADMIN_ORIGINS: '' }).adminOrigins).toEqual(['https://file.example']);
    expect(() => load({ sources: [source] }, { TAGFLOW_ADMIN_ORIGINS: 'https://ok.example, admin.example.com' })).toThrow(ConfigError);
    expect(() => load({ sources: [source] }, { TAGFLOW_ADMIN_ORIGINS: 'https://ok.example, admin.example.com' })).toThrow('TAGFLOW_ADMIN_ORIGINS: "admin.example.com" is not an origin');
    expect(() => load({ sources: [source] }, { TAGFLOW_ADMIN_ORIGINS: 'https://*.example.com' })).toThrow('TAGFLOW_ADMIN_ORIGINS: ');
  });

  it('names TAGFLOW_TRUSTED_PROXIES or trustedProxies[i] when an entry is not an address or CIDR', () => {
    expect(() => load({ sources: [source] }, { TAGFLOW_TRUSTED_PROXIES: '10.0.0.1, not-an-ip' })).toThrow(
      'TAGFLOW_TRUSTED_PROXIES: "not-an-ip" is not an IP address or CIDR',
    );
    expect(() => load({ sources: [source], trustedProxies: ['10.0.0.0/33'] })).toThrow('trustedProxies[0]: "10.0.0.0/33" is not an IP address or CIDR');
    expect(() => load({ sources: [source], trustedProxies: [7] })).toThrow('trustedProxies[0]: 7 is not an IP address or CIDR');
  });

  it('accepts every proxy form Fastify understands that the docs name', () => {
    const proxies = ['10.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', '::ffff:10.0.0.0/104', 'loopback', 'linklocal', 'uniquelocal'];
    const config = load({ sources: [source], trustedProxies: proxies });
    expect(config.trustedProxies).toEqual(proxies);
    expect(() => Fastify({ trustProxy: proxies })).not.toThrow();
  });
});

describe('publicUrl', () => {
  it('is unset by default, and read from the file or TAGFLOW_PUBLIC_URL in one spelling', () => {
    expect(load({ sources: [source] })).not.toHaveProperty('publicUrl');
    expect(load({ sources: [source], publicUrl: 'HTTPS://Shop.Example.com:443/tagflow/' }).publicUrl).toBe('https://shop.example.com/tagflow');
    expect(load({ sources: [source], publicUrl: 'http://collect.example.com:8080/' }).publicUrl).toBe('http://collect.example.com:8080');
    expect(load({ sources: [source], publicUrl: 'https://a.example' }, { TAGFLOW_PUBLIC_URL: 'https://b.example/t' }).publicUrl).toBe('https://b.example/t');
  });

  it.each([
    [{ publicUrl: 'collect.example.com' }, 'publicUrl "collect.example.com" is not an absolute http(s) URL'],
    [{ publicUrl: 'https:collect.example.com' }, 'publicUrl "https:collect.example.com" is not an absolute http(s) URL'],
    [{ publicUrl: 'ftp://collect.example.com' }, 'publicUrl "ftp://collect.example.com" is not an absolute http(s) URL'],
    [{ publicUrl: 'https://collect.example.com:99999' }, 'publicUrl "https://collect.example.com:99999" is not a URL'],
    [{ publicUrl: 'https://collect.example.com/?x=1' }, 'publicUrl "https://collect.example.com/?x=1" has a query'],
    [{ publicUrl: 'https://collect.example.com/#top' }, 'publicUrl "https://collect.example.com/#top" has a fragment'],
    [{ publicUrl: 'https://user:pw@collect.example.com' }, 'publicUrl "https://user:pw@collect.example.com" has a user name or password'],
    [{ publicUrl: 'https://collect.example.com/v1' }, 'publicUrl "https://collect.example.com/v1" ends in /v1'],
    [{ publicUrl: 42 }, 'publicUrl 42 is not a string'],
  ])('refuses %j, naming the setting and the value', (settings, message) => {
    expect(() => load({ sources: [source], ...settings })).toThrow(ConfigError);
    expect(() => load({ sources: [source], ...settings })).toThrow(message);
  });

  it('names TAGFLOW_PUBLIC_URL when the environment gave the bad value', () => {
    expect(() => load({ sources: [source] }, { TAGFLOW_PUBLIC_URL: 'shop.example.com/tagflow' })).toThrow('TAGFLOW_PUBLIC_URL "shop.example.com/tagflow" is not an absolute http(s) URL');
  });
});

describe('the documented config example', () => {
  const docs = readFileSync(new URL('../docs/collector.md', import.meta.url), 'utf8');
  const configuration = docs.slice(docs.indexOf('## Configuration'));
  const example = JSON.parse(/```json\n([\s\S]*?)```/.exec(configuration)?.[1] ?? '{}') as { sources: Record<string, unknown>[] };

  it('shows every setting there is', () => {
    expect(Object.keys(example).sort()).toEqual([...fileKeys].sort());
    expect(Object.keys(example.sources[0] ?? {}).sort()).toEqual([...sourceKeys].sort());
  });

  it('loads, and apart from adminToken, publicUrl, container and the consent ids its values are the defaults', () => {
    const { adminToken: _token, publicUrl: _publicUrl, spool, ...rest } = example as Record<string, unknown>;
    const { container: _container, analyticsConsentIds: _ids, marketingConsentIds: _marketing, ...exampleSource } = example.sources[0] ?? {};
    const { dir: _dir, ...spoolSizes } = spool as Record<string, unknown>;
    const withDefaults = (config: CollectorConfig) => ({
      ...config,
      limits: { ...defaultLimits, ...config.limits },
      spool: { ...defaultSpool, ...config.spool },
      shipper: { ...defaultShipper, ...config.shipper },
    });
    const documented = load({ ...rest, sources: [exampleSource], spool: spoolSizes });
    const defaults = load({ sources: [{ id: exampleSource.id, writeKey: exampleSource.writeKey, allowedOrigins: exampleSource.allowedOrigins }] });
    expect(withDefaults(documented)).toEqual(withDefaults(defaults));
    expect(load(example)).toMatchObject({ adminToken: 'a-long-random-admin-token', publicUrl: 'https://collect.example.com', sources: [{ container: { version: '1' }, analyticsConsentIds: ['C0002'], marketingConsentIds: ['C0004'] }] });
  });
});
