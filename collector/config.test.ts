import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config';

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
  });

  it('takes the sources from TAGFLOW_SOURCES when set, so write keys can stay out of files', () => {
    const config = load({ sources: [source] }, { TAGFLOW_SOURCES: JSON.stringify([{ id: 'env', writeKey: 'env-key-12345' }]) });
    expect(config.sources.map((s) => s.id)).toEqual(['env']);
    expect(() => load({ sources: [source] }, { TAGFLOW_SOURCES: '[{' })).toThrow('TAGFLOW_SOURCES must be a JSON array');
  });

  it.each([
    [{ sources: [{ ...source, consentPolicy: 'maybe' }] }, 'sources[0].consentPolicy must be "strip" or "drop"'],
    [{ sources: [{ ...source, rateLimit: { requestsPerSecond: 0, burst: 1 } }] }, 'sources[0].rateLimit must be'],
    [{ sources: [source], limits: { eventByte: 5 } }, 'limits.eventByte is not a known setting'],
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
    expect(config.warehouseJobs).toEqual({ identityIntervalSeconds: 60, segmentIntervalSeconds: 900 });
    expect(load({ sources: [source] }, { TAGFLOW_ADMIN_TOKEN: 'from-the-environment' }).adminToken).toBe('from-the-environment');
    expect(load({ sources: [source] }).adminToken).toBeUndefined();
  });

  it('refuses a short admin token, one equal to a write key, and negative intervals', () => {
    expect(() => load({ sources: [source], adminToken: 'short' })).toThrow(/adminToken .* at least 16 characters/);
    expect(() => load({ sources: [{ ...source, writeKey: 'write-key-123456' }], adminToken: 'write-key-123456' })).toThrow(/must differ from every write key/);
    expect(() => load({ sources: [source], warehouseJobs: { identityIntervalSeconds: -1 } })).toThrow(/warehouseJobs.identityIntervalSeconds/);
  });
});
