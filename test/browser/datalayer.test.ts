// The dataLayer in real Chromium (full build, a real collector and ClickHouse): a tag that forwards an
// order to GA4 is not taken for the site's own push (it used to loop through the GA4 bridge, ~450 rows
// per order), and pushes the site made before the SDK loaded are tracked after the landing page view.
import type { Page, Route } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { openTestPage, startAsFirstVisit } from '../support/test-page';

const suite = browserSuite();

interface Row {
  type: string;
  event: string;
  timestamp_ms: string;
}
const rows = (path: string) => () =>
  suite.collector.db.rows<Row>(`SELECT type, event, toString(timestamp_ms) AS timestamp_ms FROM events WHERE page_path = '${path}' ORDER BY timestamp_ms, batch_position`);
/** A row's name in assertions: the event, or `page`. */
const what = (r: Row) => r.event || r.type;

type W = Window & { dataLayer: unknown[]; gtagCalls: number; tagflow: { track(e: string, p?: object): void; flush(): Promise<void>; cart: { orderCompleted(o: object): void } } };

/** Tracks a marker and waits for its row: the events tracked before it are stored by then (one queue, in order). */
async function settle(page: Page, path: string): Promise<Row[]> {
  await page.evaluate(() => {
    const { tagflow } = window as unknown as W;
    tagflow.track('Marker');
    return tagflow.flush();
  });
  return waitUntil(rows(path), (r) => r.some((x) => x.event === 'Marker'));
}

const order = { id: 'order', type: 'track', event: 'Order Completed' };
const orderVariables = [
  { name: 'oid', type: 'property', key: 'order_id' },
  { name: 'rev', type: 'property', key: 'revenue' },
];
/** gtag.js's own definition, counting its calls. */
const gtagHead = '<script>window.gtagCalls = 0; window.dataLayer = window.dataLayer || []; function gtag(){ gtagCalls++; dataLayer.push(arguments); }</script>';
const gtagContainer = {
  triggers: [order],
  variables: orderVariables,
  tags: [{ id: 'ga4', type: 'global', name: 'gtag', args: ['event', 'purchase', { transaction_id: '{{oid}}', value: '{{rev}}', currency: 'EUR' }], triggers: ['order'] }],
};

describe('a tag that forwards an order to GA4', () => {
  it('through gtag: one Order Completed row and one gtag call', async () => {
    await startAsFirstVisit(suite.browser.context, suite.collector);
    const { page } = await openTestPage(suite.browser.context, suite.collector, {
      path: '/test/dl-gtag',
      head: gtagHead,
      settings: { tags: { container: gtagContainer, globals: ['gtag'] } },
    });
    await page.evaluate(() => (window as unknown as W).tagflow.track('Order Completed', { order_id: 'O-7', revenue: 42 }));
    const got = await settle(page, '/test/dl-gtag');
    expect(got.map(what)).toEqual(['page', 'Order Completed', 'Marker']);
    expect(await page.evaluate(() => (window as unknown as W).gtagCalls)).toBe(1);
    await page.close();
  });

  it('through a dataLayer tag: one Order Completed row and one purchase push', async () => {
    await startAsFirstVisit(suite.browser.context, suite.collector);
    const container = {
      triggers: [order],
      variables: orderVariables,
      tags: [{ id: 'to-gtm', type: 'dataLayer', data: { event: 'purchase', ecommerce: { transaction_id: '{{oid}}', value: '{{rev}}', items: [] } }, triggers: ['order'] }],
    };
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/dl-push', settings: { tags: { container } } });
    await page.evaluate(() => (window as unknown as W).tagflow.cart.orderCompleted({ order_id: 'O-1', revenue: 10, products: [] }));
    const got = await settle(page, '/test/dl-push');
    expect(got.map(what)).toEqual(['page', 'Order Completed', 'Marker']);
    expect(await page.evaluate(() => (window as unknown as W).dataLayer.filter((e) => (e as { event?: string }).event === 'purchase').length)).toBe(1);
    await page.close();
  });

  it('for an order tracked before the SDK loaded: the bridge, reading the dataLayer after, does not track it again', async () => {
    await startAsFirstVisit(suite.browser.context, suite.collector);
    const { page } = await openTestPage(suite.browser.context, suite.collector, {
      path: '/test/dl-early-order',
      head: gtagHead,
      body: `<script>tagflow.track('Order Completed', { order_id: 'O-8', revenue: 5 });</script>`,
      settings: { tags: { container: gtagContainer, globals: ['gtag'] } },
    });
    const got = await settle(page, '/test/dl-early-order');
    expect(got.map(what)).toEqual(['page', 'Order Completed', 'Marker']);
    expect(await page.evaluate(() => (window as unknown as W).gtagCalls)).toBe(1);
    await page.close();
  });
});

describe('dataLayer pushes made before the SDK loaded', () => {
  it('are tracked after the landing page view the snippet queued', async () => {
    await startAsFirstVisit(suite.browser.context, suite.collector);
    // The SDK is held until the page has pushed (after the snippet, as a shop's templates do), so the
    // pushes are surely older than the SDK.
    let pushed!: () => void;
    const pushesMade = new Promise<void>((resolve) => (pushed = resolve));
    await suite.browser.context.route(`${suite.collector.url}/pushes-made`, (route: Route) => (pushed(), route.fulfill({ status: 204 })));
    await suite.browser.context.route('**/sdk/tagflow.full.min.js', async (route: Route) => (await pushesMade, route.continue()));
    const item = { item_id: 'sku-1', item_name: 'Shoe', price: 10, quantity: 1 };
    const body = `<script>
      dataLayer.push({ event: 'view_item', ecommerce: { currency: 'EUR', value: 10, items: [${JSON.stringify(item)}] } });
      dataLayer.push({ event: 'add_to_cart', ecommerce: { currency: 'EUR', value: 10, items: [${JSON.stringify(item)}] } });
      fetch('/pushes-made');
    </script>`;
    try {
      const { page } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/dl-early', head: '<script>window.dataLayer = [];</script>', body });
      const got = await settle(page, '/test/dl-early');
      expect(got.map(what)).toEqual(['page', 'Product Viewed', 'Product Added', 'Marker']);
      const [view, ...rest] = got.map((r) => Number(r.timestamp_ms));
      expect(rest.every((t) => t >= view!)).toBe(true);
      await page.close();
    } finally {
      await suite.browser.context.unroute('**/sdk/tagflow.full.min.js');
      await suite.browser.context.unroute(`${suite.collector.url}/pushes-made`);
    }
  });
});
