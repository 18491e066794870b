// Segment's own browser library, @segment/analytics-next (the devDependency's UMD build, dist/umd/index.js), in real
// Chromium against a real collector, configured as docs/collector.md ("Segment and RudderStack clients") says:
// `AnalyticsBrowser.load({ writeKey, cdnURL: <collector> }, { integrations: { 'Segment.io': { apiHost, protocol } } })`.
// The library fetches its settings from the collector (GET /v1/projects/:writeKey/settings) and will not send
// without them, then posts each event to the collector's short paths (/v1/p, /v1/i, /v1/t; /v1/b when batching).
//
// Nothing comes from Segment: the shop is a local node:http server on its own origin (listed in the source's
// allowedOrigins), serving the page and the library's files from node_modules; the library's webpack public path
// for lazy chunks (`${cdn}/analytics-next/bundles/`, fixed when the script runs from `window.analytics._cdn`) points
// at that server too; and any request to Segment's hosts is aborted, recorded and fails the test.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { AnalyticsBrowser } from '@segment/analytics-next';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runIdentityJob } from '../../collector/warehouse/identity/job';
import { desktopChrome, launchBrowser, type TestBrowser } from '../support/browser';
import { waitUntil } from '../support/clickhouse';
import { startTestCollector, type TestCollector } from '../support/collector';

const umdDir = join(dirname(createRequire(import.meta.url).resolve('@segment/analytics-next/package.json')), 'dist', 'umd');
const version = (JSON.parse(readFileSync(join(umdDir, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

/** The shop: `/` is the page, `/analytics-next/bundles/<file>.js` the library's UMD files (index.js and its chunks). */
interface Shop {
  origin: string;
  /** Paths of every library file the shop served (lazy chunks included), in order. */
  served: string[];
  close(): Promise<void>;
}

async function startShop(): Promise<Shop> {
  const served: string[] = [];
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Segment shop</title>
<script>window.analytics = { _cdn: location.origin };</script>
<script src="/analytics-next/bundles/index.js"></script></head><body><h1>Segment shop</h1></body></html>`;
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://shop').pathname;
    const file = /^\/analytics-next\/bundles\/([\w.-]+\.js)$/.exec(path)?.[1];
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    } else if (file !== undefined) {
      let body: Buffer;
      try {
        body = readFileSync(join(umdDir, file));
      } catch {
        response.writeHead(404).end();
        return;
      }
      served.push(path);
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(body);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, served, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

interface Exchange {
  method: string;
  path: string;
  status: number;
}

let shop: Shop;
let collector: TestCollector;
/**
 * What reached the collector from the shop's pages, as the collector's HTTP server saw it (a second listener on
 * its 'request' event, beside Fastify's): method, path and the status it answered. CORS preflights are left out.
 */
const reached: Exchange[] = [];
beforeAll(async () => {
  shop = await startShop();
  collector = await startTestCollector({ allowedOrigins: [shop.origin] });
  collector.app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (request.headers.origin !== shop.origin || request.method === 'OPTIONS') return;
    const entry = { method: request.method ?? '', path: new URL(request.url ?? '/', collector.url).pathname };
    response.on('finish', () => reached.push({ ...entry, status: response.statusCode }));
  });
});
afterAll(async () => {
  await collector?.close();
  await shop?.close();
});

type AjsWindow = Window & { AnalyticsNext: { AnalyticsBrowser: typeof AnalyticsBrowser } };

interface Visit {
  page: Page;
  /** What reached the collector during this visit (see `reached`). */
  exchanges: Exchange[];
  /** console.error messages of the page. */
  errors: string[];
  /** Requests to Segment's own hosts (aborted): must stay empty. */
  toSegment: string[];
}

/** Each test's Chromium, closed after it whether it passed or not. */
const browsers: TestBrowser[] = [];
afterEach(async () => {
  await Promise.all(browsers.splice(0).map((browser) => browser.close()));
});

/**
 * Opens the shop in a fresh Chromium (its own profile: no identity, cached settings or preflight from another
 * test) with a desktop Chrome's user agent: headless Chromium's own is a crawler's, left out of person-level views.
 */
async function openShop(query = ''): Promise<Visit> {
  const browser = await launchBrowser(undefined, { userAgent: desktopChrome });
  browsers.push(browser);
  const toSegment: string[] = [];
  await browser.context.route(/^https?:\/\/([^/]*\.)?(segment\.com|segment\.io|segmentapis\.com)(\/|$)/, (route) => {
    toSegment.push(route.request().url());
    return route.abort();
  });
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  reached.length = 0;
  await page.goto(`${shop.origin}/${query}`);
  await page.waitForFunction(() => typeof (window as unknown as Partial<AjsWindow>).AnalyticsNext?.AnalyticsBrowser === 'function');
  return { page, exchanges: reached, errors, toSegment };
}

const settingsPath = () => `/v1/projects/${collector.source.writeKey}/settings`;
const posts = (exchanges: Exchange[]) => exchanges.filter((e) => e.method === 'POST');

interface EventRow {
  message_id: string;
  type: string;
  event: string;
  user_id: string;
  anonymous_id: string;
  properties: string;
  traits: string;
  library_name: string;
  library_version: string;
  is_bot: number;
}

const eventRows = (where: string) =>
  collector.db.rows<EventRow>(
    `SELECT message_id, type, event, user_id, anonymous_id, properties, traits, library_name, library_version, is_bot FROM events WHERE ${where} ORDER BY timestamp_ms`,
  );

describe('Segment analytics.js (@segment/analytics-next) against the collector', () => {
  it('loads its settings from the collector and sends page, identify and track to the short paths; the order reaches person_orders', async () => {
    const { page, exchanges, errors, toSegment } = await openShop();
    const apiHost = `${new URL(collector.url).host}/v1`;
    const messageIds = await page.evaluate(
      async ({ writeKey, cdnURL, apiHost }) => {
        const { AnalyticsBrowser } = (window as unknown as AjsWindow).AnalyticsNext;
        const [analytics] = await AnalyticsBrowser.load({ writeKey, cdnURL }, { integrations: { 'Segment.io': { apiHost, protocol: 'http' } } });
        const viewed = await analytics.page();
        const identified = await analytics.identify('user-1', { email: 'user-1@example.com' });
        const ordered = await analytics.track('Order Completed', {
          order_id: 'o-1',
          revenue: 42,
          currency: 'EUR',
          products: [
            { product_id: 'p-1', name: 'Shoe', price: 30, quantity: 1 },
            { product_id: 'p-2', name: 'Sock', price: 6, quantity: 2 },
          ],
        });
        return [viewed, identified, ordered].map((ctx) => ctx.event.messageId ?? '');
      },
      { writeKey: collector.source.writeKey, cdnURL: collector.url, apiHost },
    );
    expect(messageIds.every((id) => id !== '')).toBe(true);

    const inList = messageIds.map((id) => `'${id}'`).join(', ');
    const rows = await waitUntil(() => eventRows(`message_id IN (${inList})`), (r) => r.length === 3);
    expect(rows.map((r) => r.message_id)).toEqual(messageIds);
    expect(rows.map((r) => [r.type, r.event, r.user_id])).toEqual([
      ['page', '', ''],
      ['identify', '', 'user-1'],
      ['track', 'Order Completed', 'user-1'],
    ]);
    for (const row of rows) {
      expect(row).toMatchObject({ library_name: 'analytics.js', is_bot: 0 });
      expect(row.library_version).toContain(version);
    }
    expect(new Set(rows.map((r) => r.anonymous_id)).size).toBe(1);
    expect(rows[0]?.anonymous_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(rows[1]?.traits ?? '{}')).toMatchObject({ email: 'user-1@example.com' });
    const orderProperties = JSON.parse(rows[2]?.properties ?? '{}') as { revenue?: unknown; order_id?: unknown; products?: unknown[] };
    expect(orderProperties).toMatchObject({ order_id: 'o-1', revenue: 42 });
    expect(orderProperties.products).toHaveLength(2);

    // The collector answered the settings and the events, on its short paths, each with 200.
    await waitUntil(async () => posts(exchanges), (p) => p.length >= 3);
    expect(exchanges.filter((e) => e.method === 'GET')).toEqual([{ method: 'GET', path: settingsPath(), status: 200 }]);
    expect(posts(exchanges)).toEqual([
      { method: 'POST', path: '/v1/p', status: 200 },
      { method: 'POST', path: '/v1/i', status: 200 },
      { method: 'POST', path: '/v1/t', status: 200 },
    ]);

    // The anonymous page view joins user-1 through the identify; the order is user-1's.
    await runIdentityJob(collector.db.client);
    const orders = await collector.db.rows<{ person_id: string; order_id: string; ordered: number; order_revenue: number }>(
      "SELECT person_id, order_id, ordered, order_revenue FROM person_orders WHERE order_id = 'o-1'",
    );
    expect(orders).toEqual([{ person_id: 'user:user-1', order_id: 'o-1', ordered: 1, order_revenue: 42 }]);
    const person = await collector.db.rows<{ person_id: string; types: string[] }>(
      `SELECT person_id, groupArray(type) AS types FROM (SELECT person_id, type FROM person_events WHERE message_id IN (${inList}) ORDER BY type) GROUP BY person_id`,
    );
    expect(person).toEqual([{ person_id: 'user:user-1', types: ['identify', 'page', 'track'] }]);

    expect(shop.served[0]).toBe('/analytics-next/bundles/index.js');
    expect(toSegment).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("with no apiHost of its own, sends to the one the collector's settings name; batched to /v1/b; lazy chunks from the shop", async () => {
    // ajs_event in the URL makes the library load its queryString chunk (webpack public path) and track that event.
    const { page, exchanges, errors, toSegment } = await openShop('?ajs_event=Newsletter%20Signup');
    const messageIds = await page.evaluate(
      async ({ writeKey, cdnURL }) => {
        const { AnalyticsBrowser } = (window as unknown as AjsWindow).AnalyticsNext;
        const [analytics] = await AnalyticsBrowser.load(
          { writeKey, cdnURL },
          { integrations: { 'Segment.io': { deliveryStrategy: { strategy: 'batching', config: { size: 3, timeout: 10_000 } } } } },
        );
        const contexts = await Promise.all([analytics.track('Product Viewed', { product_id: 'p-9' }), analytics.track('Product Added', { product_id: 'p-9' })]);
        return contexts.map((ctx) => ctx.event.messageId ?? '');
      },
      { writeKey: collector.source.writeKey, cdnURL: collector.url },
    );
    const inList = messageIds.map((id) => `'${id}'`).join(', ');
    const rows = await waitUntil(() => eventRows(`message_id IN (${inList}) OR event = 'Newsletter Signup'`), (r) => r.length === 3);
    expect(rows.map((r) => [r.type, r.event, r.library_name]).sort()).toEqual([
      ['track', 'Newsletter Signup', 'analytics.js'],
      ['track', 'Product Added', 'analytics.js'],
      ['track', 'Product Viewed', 'analytics.js'],
    ]);
    expect(shop.served.filter((path) => /\/queryString\.bundle\.[0-9a-f]+\.js$/.test(path))).toHaveLength(1);
    expect(exchanges.filter((e) => e.method === 'GET')).toEqual([{ method: 'GET', path: settingsPath(), status: 200 }]);
    // All three in one request, sent when the third made the batch size (not by the 10 s timeout).
    await waitUntil(async () => posts(exchanges), (p) => p.length >= 1);
    expect(posts(exchanges)).toEqual([{ method: 'POST', path: '/v1/b', status: 200 }]);
    expect(toSegment).toEqual([]);
    expect(errors).toEqual([]);
  });
});
