// The tag manager in real Chromium: the container comes from the collector (with ETag), a tag that
// needs marketing waits for it, a click trigger fires its tag, injected scripts get the CSP nonce, and
// bad parts of a container are ignored with a debug message while the rest works.
import { describe, expect, it } from 'vitest';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { openTestPage } from '../support/test-page';
import type { Container } from '../../collector/ingest/container';

const container: Container = {
  version: '1',
  triggers: [
    { id: 'every-page', type: 'page' },
    { id: 'buy-click', type: 'click', selector: '#buy' },
  ],
  variables: [{ name: 'path', type: 'constant', value: 'checkout' }],
  tags: [
    { id: 'ads', type: 'dataLayer', data: { event: 'ads_page_view' }, triggers: ['every-page'], purposes: ['marketing'], waitForConsent: true },
    { id: 'click', type: 'global', name: 'tagLog.push', args: ['clicked {{path}}'], triggers: ['buy-click'] },
  ],
};

const suite = browserSuite({ container });

type W = Window & { dataLayer: unknown[]; tagLog: string[]; tagflow: { consent: { set(c: Record<string, boolean>): void } }; scriptNonce?: string };

describe('tag manager in Chromium', () => {
  it('fires a marketing tag only after marketing is granted, and a click trigger fires its tag', async () => {
    const { page } = await openTestPage(suite.browser.context, suite.collector, {
      path: '/test/tags',
      head: '<script>window.tagLog = [];</script>',
      body: '<button id="buy"><span>Buy</span></button>',
      settings: { consent: { mode: 'cookieless' }, tags: { globals: ['tagLog.push'] } },
    });
    const adsPushes = () => page.evaluate(() => (window as unknown as W).dataLayer.filter((e) => (e as { event?: string }).event === 'ads_page_view').length);
    await page.click('#buy span');
    await page.waitForFunction(() => (window as unknown as W).tagLog.length === 1);
    expect(await page.evaluate(() => (window as unknown as W).tagLog)).toEqual(['clicked checkout']);
    expect(await adsPushes()).toBe(0);

    await page.evaluate(() => (window as unknown as W).tagflow.consent.set({ analytics: true }));
    expect(await adsPushes()).toBe(0); // analytics is not marketing
    await page.evaluate(() => (window as unknown as W).tagflow.consent.set({ marketing: true }));
    await page.waitForFunction(() => (window as unknown as W).dataLayer.some((e) => (e as { event?: string }).event === 'ads_page_view'));
    expect(await adsPushes()).toBe(1);
    await page.close();
  });

  it('gives injected scripts the configured CSP nonce', async () => {
    await suite.browser.context.route(`${suite.collector.url}/tag.js*`, (route) =>
      route.fulfill({ status: 200, contentType: 'text/javascript', body: 'window.scriptNonce = document.currentScript.nonce;' }),
    );
    const inline: Container = {
      version: 'inline',
      triggers: [{ id: 'checkout', type: 'page', path: { startsWith: '/test/checkout' } }],
      variables: [],
      tags: [{ id: 'script', type: 'script', src: `${suite.collector.url}/tag.js?v=1`, triggers: ['checkout'] }],
    };
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/checkout', settings: { tags: { container: inline, nonce: 'n0nce-123' } } });
    await page.waitForFunction(() => (window as unknown as W).scriptNonce !== undefined);
    expect(await page.evaluate(() => (window as unknown as W).scriptNonce)).toBe('n0nce-123');
    await page.close();
  });

  it('ignores a malformed container, an unknown trigger type and a selector that does not parse, with debug messages', async () => {
    const bad = {
      version: 'bad',
      triggers: [
        { id: 'hover', type: 'hover' },
        { id: 'broken', type: 'click', selector: 'div[' },
        { id: 'buy', type: 'click', selector: '#buy' },
      ],
      tags: [
        { id: 'on-hover', type: 'global', name: 'tagLog.push', args: ['hover'], triggers: ['hover'] },
        { id: 'on-broken', type: 'global', name: 'tagLog.push', args: ['broken'], triggers: ['broken'] },
        { id: 'on-buy', type: 'global', name: 'tagLog.push', args: ['buy'], triggers: ['buy'] },
      ],
    };
    const { page, console } = await openTestPage(suite.browser.context, suite.collector, {
      path: '/test/bad-container',
      head: '<script>window.tagLog = [];</script>',
      body: '<button id="buy">Buy</button><div>text</div>',
      settings: { tags: { container: bad, globals: ['tagLog.push'] } },
    });
    await page.click('#buy');
    await page.click('div');
    await page.waitForFunction(() => (window as unknown as W).tagLog.length > 0);
    expect(await page.evaluate(() => (window as unknown as W).tagLog)).toEqual(['buy']);
    expect(console.some((l) => l.includes('triggers[0] type hover is unknown (ignored)'))).toBe(true);
    expect(console.some((l) => l.includes('triggers[1]') && l.includes("'div[' is not a valid selector"))).toBe(true);
    // The page and the SDK go on: its page view is stored.
    await waitUntil(() => suite.collector.db.rows("SELECT 1 FROM events WHERE page_path = '/test/bad-container'"), (r) => r.length === 1);
    await page.close();

    const { page: other, console: otherConsole } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/not-a-container', settings: { tags: { container: 'tags: none' } } });
    expect(otherConsole.some((l) => l.includes('the container must be a JSON object (ignored)'))).toBe(true);
    await waitUntil(() => suite.collector.db.rows("SELECT 1 FROM events WHERE page_path = '/test/not-a-container'"), (r) => r.length === 1);
    await other.close();
  });
});
