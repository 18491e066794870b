// GET /v1/container/:writeKey against a real collector, and the config refusing malformed containers.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCollector, type TestCollector } from '../../test/support/collector';
import { loadConfig } from '../config';
import type { Container } from '../ingest/container';

const container: Container = {
  version: '7',
  triggers: [{ id: 'all', type: 'page' }],
  variables: [],
  tags: [{ id: 'fwd', type: 'dataLayer', data: { event: 'tf_page' }, triggers: ['all'] }],
};

let collector: TestCollector;
beforeAll(async () => {
  collector = await startTestCollector({ container });
});
afterAll(() => collector.close());

describe('GET /v1/container/:writeKey', () => {
  it('serves the container with an ETag and answers 304 when it is unchanged', async () => {
    const first = await fetch(`${collector.url}/v1/container/${collector.source.writeKey}`);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual(container);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]{20,}"$/);
    expect(first.headers.get('cache-control')).toBe('no-cache');

    const again = await fetch(`${collector.url}/v1/container/${collector.source.writeKey}`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const changed = await fetch(`${collector.url}/v1/container/${collector.source.writeKey}`, { headers: { 'if-none-match': '"old"' } });
    expect(changed.status).toBe(200);
  });

  it('answers 404 with a JSON error for an unknown write key', async () => {
    const response = await fetch(`${collector.url}/v1/container/nope-nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: 'unknown_write_key' });
  });
});

describe('containers in the collector config', () => {
  const write = (source: Record<string, unknown>) => {
    const dir = mkdtempSync(join(tmpdir(), 'tagflow-config-'));
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify({ sources: [{ id: 'web', writeKey: 'a-long-write-key', ...source }] }));
    return path;
  };

  it('loads a valid container', () => {
    const config = loadConfig({ TAGFLOW_CONFIG: write({ container }) });
    expect(config.sources[0]?.container).toEqual(container);
  });

  it.each([
    [{ ...container, tags: [{ id: 'x', type: 'pixel', triggers: ['all'], src: 'javascript:alert(1)' }] }, 'sources[0].container: tags[0].src must be an http(s) URL'],
    [{ ...container, triggers: [{ id: 'all', type: 'hover' }] }, 'sources[0].container: triggers[0].type must be one of page, track, click, submit, dataLayer; tags[0].triggers[0] names no valid trigger'],
    ['not a container', 'sources[0].container: the container must be a JSON object'],
  ])('refuses a malformed container with a message naming the field (case %#)', (bad, message) => {
    expect(() => loadConfig({ TAGFLOW_CONFIG: write({ container: bad }) })).toThrow(message);
  });
});
