import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config';

function configFile(content: Record<string, unknown>): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tagflow-config-')), 'config.json');
  writeFileSync(path, JSON.stringify({ sources: [{ id: 'web', writeKey: 'write-key-123456' }], ...content }));
  return path;
}

describe('admin token and warehouse jobs config', () => {
  it('reads the admin token from the file or TAGFLOW_ADMIN_TOKEN, and job intervals with defaults', () => {
    const config = loadConfig({ TAGFLOW_CONFIG: configFile({ adminToken: 'a-long-admin-token-1' }) });
    expect(config.adminToken).toBe('a-long-admin-token-1');
    expect(config.warehouseJobs).toEqual({ identityIntervalSeconds: 60, segmentIntervalSeconds: 900 });
    expect(loadConfig({ TAGFLOW_CONFIG: configFile({}), TAGFLOW_ADMIN_TOKEN: 'from-the-environment' }).adminToken).toBe('from-the-environment');
    expect(loadConfig({ TAGFLOW_CONFIG: configFile({}) }).adminToken).toBeUndefined();
  });

  it('refuses a short admin token, one equal to a write key, and negative intervals', () => {
    expect(() => loadConfig({ TAGFLOW_CONFIG: configFile({ adminToken: 'short' }) })).toThrow(/adminToken .* at least 16 characters/);
    expect(() => loadConfig({ TAGFLOW_CONFIG: configFile({ adminToken: 'write-key-123456' }) })).toThrow(/must differ from every write key/);
    expect(() => loadConfig({ TAGFLOW_CONFIG: configFile({ warehouseJobs: { identityIntervalSeconds: -1 } }) })).toThrow(/warehouseJobs.identityIntervalSeconds/);
  });
});
