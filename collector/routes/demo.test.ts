// The rendered snippet must stay one well-formed script whatever the settings contain.
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { CollectorConfig } from '../config';
import { demoRoutes, renderSnippet } from './demo';

describe('renderSnippet', () => {
  it("keeps replacement patterns ($', $`, $&) in a value literal, so a Host header cannot break out of the script", () => {
    const endpoint = "http://x$`y$'z$&";
    const snippet = renderSnippet({ writeKey: 'wk', endpoint, src: `${endpoint}/sdk/tagflow.min.js` });
    expect(() => new Function(snippet)).not.toThrow();
    expect(snippet).toContain(JSON.stringify(endpoint));
  });

  it('escapes < so a value cannot close the surrounding script element', () => {
    const snippet = renderSnippet({ writeKey: '</script><script>alert(1)</script>', endpoint: 'http://x', src: 'http://x/s.js' });
    expect(snippet).not.toContain('</script>');
  });
});

describe('the demo page', () => {
  const config = { sources: [{ id: 'web', writeKey: 'key-12345678' }] } as unknown as CollectorConfig;
  const snippetSettings = async (settings: Partial<CollectorConfig>): Promise<{ endpoint: string; src: string }> => {
    const app = Fastify();
    demoRoutes(app, { ...config, ...settings });
    const page = await app.inject({ url: '/', headers: { host: 'internal:8080' } });
    await app.close();
    const json = /"endpoint":"[^"]*".*?"src":"[^"]*"/.exec(page.body)?.[0];
    expect(json, 'the page carries the snippet settings').toBeDefined();
    return JSON.parse(`{${json}}`) as { endpoint: string; src: string };
  };

  it('points the snippet at the host the page was asked from', async () => {
    expect(await snippetSettings({})).toEqual({ endpoint: 'http://internal:8080', src: 'http://internal:8080/sdk/tagflow.full.min.js' });
  });

  it('points the snippet at publicUrl when one is set (a proxy serving the collector under a path prefix)', async () => {
    expect(await snippetSettings({ publicUrl: 'https://shop.example.com/tagflow' })).toEqual({
      endpoint: 'https://shop.example.com/tagflow',
      src: 'https://shop.example.com/tagflow/sdk/tagflow.full.min.js',
    });
  });
});
