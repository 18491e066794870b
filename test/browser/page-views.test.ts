// Page views in real Chromium (full build, a real collector and ClickHouse) in the cases that used to
// corrupt them: views held by consent and released on a grant, calls the snippet queued while the app
// routed before the SDK loaded, and the title of SPA views.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { openTestPage, startAsFirstVisit } from '../support/test-page';

const suite = browserSuite();

interface Row {
  type: string;
  event: string;
  page_path: string;
  page_referrer: string;
  page_title: string;
  campaign_source: string;
  timestamp_ms: string;
}
const rows = (where: string) => () =>
  suite.collector.db.rows<Row>(
    `SELECT type, event, page_path, page_referrer, page_title, campaign_source, toString(timestamp_ms) AS timestamp_ms FROM events WHERE ${where} ORDER BY timestamp_ms`,
  );
/** A row's name in assertions: the event, or `page <path>`. */
const what = (r: Row) => r.event || `${r.type} ${r.page_path}`;
/** Events recorded in one go can tie in timestamp_ms: compare them unordered, and their times apart. */
const timeOf = (got: Row[], name: string) => Number(got.find((r) => what(r) === name)?.timestamp_ms);

type TagflowWindow = Window & { tagflow: { track(e: string, p?: object): void; consent: { set(c: Record<string, boolean>): void } } };

const freshContext = () => startAsFirstVisit(suite.browser.context, suite.collector);

/** Grants analytics and tracks a marker: once the marker is stored, everything released before it is too. */
async function grantAndMark(page: Page, marker: string): Promise<void> {
  await page.evaluate((name) => {
    const { tagflow } = window as unknown as TagflowWindow;
    tagflow.consent.set({ analytics: true });
    tagflow.track(name);
  }, marker);
  await waitUntil(rows(`event = '${marker}'`), (r) => r.length === 1);
}

describe('page views held by consent (hold mode), released on a grant', () => {
  it('keep the landing view and its (empty) referrer when the visitor navigated before deciding', async () => {
    await freshContext();
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/held-a', settings: { consent: { mode: 'hold' } } });
    await page.evaluate(() => history.pushState(null, '', '/test/held-b'));
    await grantAndMark(page, 'Held Marker');
    const views = await rows("type = 'page' AND page_path LIKE '/test/held-%'")();
    expect(views.map((v) => [v.page_path, v.page_referrer]).sort()).toEqual([
      ['/test/held-a', ''], // a direct visit
      ['/test/held-b', `${suite.collector.url}/test/held-a`],
    ]);
    await page.close();
  });

  it('keep all three views of landing → pushState → back (popstate)', async () => {
    await freshContext();
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/pop-a', settings: { consent: { mode: 'hold' } } });
    await page.evaluate(() => history.pushState(null, '', '/test/pop-b'));
    await page.evaluate(() => new Promise((resolve) => (addEventListener('popstate', resolve, { once: true }), history.back())));
    expect(new URL(page.url()).pathname).toBe('/test/pop-a');
    await grantAndMark(page, 'Pop Marker');
    const views = await rows("type = 'page' AND page_path LIKE '/test/pop-%'")();
    expect(views.map((v) => [v.page_path, v.page_referrer]).sort()).toEqual([
      ['/test/pop-a', ''],
      ['/test/pop-a', `${suite.collector.url}/test/pop-b`],
      ['/test/pop-b', `${suite.collector.url}/test/pop-a`],
    ]);
    await page.close();
  });
});

describe('calls the snippet queued before the SDK loaded', () => {
  it('are recorded on the page they were made on: the landing view and its campaign survive an early pushState', async () => {
    await freshContext();
    // A slow network: the SDK file is held until the app has tracked a click and routed.
    const sdk = '**/sdk/tagflow.full.min.js';
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    await suite.browser.context.route(sdk, async (route) => {
      await released;
      await route.continue();
    });
    try {
      const opened = suite.browser.context.waitForEvent('page');
      const opening = openTestPage(suite.browser.context, suite.collector, {
        path: '/test/replay-list?utm_source=ad-campaign',
        body: `<script>tagflow.track('Product Clicked', { product_id: 'p1' }); history.pushState(null, '', '/test/replay-product'); document.title = 'Product P1';</script>`,
      });
      const early = await opened;
      await early.waitForFunction(() => document.title === 'Product P1'); // the app's script ran; the SDK is still held
      release();
      const { page } = await opening;
      await page.evaluate(() => (window as unknown as TagflowWindow).tagflow.track('Replay Marker'));
      await waitUntil(rows("event = 'Replay Marker'"), (r) => r.length === 1);
      const got = await rows("page_path LIKE '/test/replay-%' AND event != 'Replay Marker'")();
      expect(got.map((r) => [what(r), r.page_path, r.page_title, r.campaign_source]).sort()).toEqual([
        ['Product Clicked', '/test/replay-list', 'Test page', 'ad-campaign'],
        ['page /test/replay-list', '/test/replay-list', 'Test page', 'ad-campaign'],
        ['page /test/replay-product', '/test/replay-product', 'Product P1', 'ad-campaign'],
      ]);
      const times = ['page /test/replay-list', 'Product Clicked', 'page /test/replay-product'].map((name) => timeOf(got, name));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(got.find((r) => r.page_path === '/test/replay-product')?.page_referrer).toBe(`${suite.collector.url}/test/replay-list?utm_source=ad-campaign`);
      await page.close();
    } finally {
      release();
      await suite.browser.context.unroute(sdk);
    }
  });
});

describe('SPA page views', () => {
  it("carry the new route's title, set by the router right after pushState or a microtask later", async () => {
    await freshContext();
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/title-home' });
    await page.evaluate(() => {
      history.pushState(null, '', '/test/title-product');
      document.title = 'Product P1';
      (window as unknown as TagflowWindow).tagflow.track('Title Marker'); // right after: the view comes first
    });
    await page.evaluate(() => {
      history.pushState(null, '', '/test/title-cart');
      queueMicrotask(() => (document.title = 'Your cart'));
    });
    await page.evaluate(() => (window as unknown as TagflowWindow).tagflow.track('Cart Marker'));
    await waitUntil(rows("event = 'Cart Marker'"), (r) => r.length === 1);
    const got = await rows("page_path IN ('/test/title-product', '/test/title-cart') AND event != 'Cart Marker'")();
    expect(got.map((r) => [what(r), r.page_title]).sort()).toEqual([
      ['Title Marker', 'Product P1'],
      ['page /test/title-cart', 'Your cart'],
      ['page /test/title-product', 'Product P1'],
    ]);
    // The marker tracked right after pushState is not before the view, whose time is its navigation's.
    expect(timeOf(got, 'page /test/title-product')).toBeLessThanOrEqual(timeOf(got, 'Title Marker'));
    await page.close();
  });
});
