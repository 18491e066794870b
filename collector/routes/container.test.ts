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
/** A second source, without a container: its key must not be told apart from one no source has. */
const bareKey = 'bare-write-key';
beforeAll(async () => {
  const sources = [
    { id: 'test-source', writeKey: 'test-write-key', allowedOrigins: [], keepFullIp: false, container },
    { id: 'bare', writeKey: bareKey, allowedOrigins: [], keepFullIp: false },
  ];
  collector = await startTestCollector({}, { sources });
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

  it('answers an unknown write key and a source without a container alike, so keys cannot be probed', async () => {
    const answer = async (key: string) => {
      const response = await fetch(`${collector.url}/v1/container/${key}`);
      return { status: response.status, contentType: response.headers.get('content-type'), body: await response.text() };
    };
    const unknown = await answer('nope-nope-nope');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ error: 'no_container', message: expect.stringContaining('container') });
    expect(await answer(bareKey)).toEqual(unknown);
    expect(unknown.body).not.toContain('bare');
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
