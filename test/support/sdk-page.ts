// Opens a blank page of a given origin with the browser build of the SDK running, configured like the
// paste-in snippet would configure it. The page and the SDK come from the test itself (a route and an
// init script), so they load even while the browser context is offline.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchBrowser, type TestBrowser } from './browser';
import type { TestDatabase } from './clickhouse';

const iifePath = join(__dirname, '..', '..', 'dist', 'browser', 'tagflow.min.js');

/** The snippet's config: write key, endpoint and any other createTagflow option. */
export type SdkConfig = { writeKey: string; endpoint: string } & Record<string, unknown>;

/**
 * Makes every page of `context` run the SDK with `config`, and serves a blank page at `${origin}/sdk-test`.
 * Call once per context, before opening pages.
 */
export async function installSdk(context: BrowserContext, origin: string, config: SdkConfig): Promise<void> {
  const stub = `window.tagflow = Object.assign([], { config: ${JSON.stringify({ ...config, src: '' })} });`;
  await context.addInitScript({ content: `${stub}\n${readFileSync(iifePath, 'utf8')}` });
  await context.route(`${origin}/sdk-test`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>sdk test</title><p>sdk test</p>' }));
}

/** Opens the blank SDK page in a new tab. */
export async function openSdkPage(context: BrowserContext, origin: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${origin}/sdk-test`);
  return page;
}

/** Calls `tagflow.track(name, { i })` for i in [from, from + count) in the page. */
export async function trackMany(page: Page, name: string, count: number, from = 0): Promise<void> {
  await page.evaluate(
    ([event, n, start]) => {
      const tagflow = (window as unknown as { tagflow: { track(e: string, p: object): void } }).tagflow;
      for (let i = start; i < start + n; i++) tagflow.track(event, { i });
    },
    [name, count, from] as const,
  );
}

/** How many events wait in the page's IndexedDB queue for `writeKey` (0 when there is none). */
export async function queuedInIndexedDb(page: Page, writeKey: string): Promise<number> {
  return page.evaluate(
    (name) =>
      new Promise<number>((resolve) => {
        const open = indexedDB.open(name);
        open.onerror = () => resolve(0);
        open.onsuccess = () => {
          const db = open.result;
          if (!db.objectStoreNames.contains('q')) return resolve(0);
          const count = db.transaction('q').objectStore('q').count();
          count.onsuccess = () => resolve(count.result);
          count.onerror = () => resolve(0);
        };
      }),
    `tagflow-${writeKey}`,
  );
}

/** Fresh Chromiums (own profile and IndexedDB each) for the scenarios of one test file; `closeAll` in afterAll. */
export function browserPool(): { fresh(options?: Parameters<typeof launchBrowser>[1]): Promise<TestBrowser>; closeAll(): Promise<void> } {
  const browsers: TestBrowser[] = [];
  return {
    async fresh(options) {
      const browser = await launchBrowser(undefined, options);
      browsers.push(browser);
      return browser;
    },
    async closeAll() {
      for (const browser of browsers.splice(0)) await browser.close();
    },
  };
}

/** Rows, distinct messageIds and distinct `properties.i` of the events named `event` that reached ClickHouse. */
export interface EventCounts {
  rows: number;
  ids: number;
  indexes: number;
}

/** A poller (for waitUntil) of {@link EventCounts} in a test database. */
export function eventCounts(db: TestDatabase, event: string): () => Promise<EventCounts> {
  return async () => {
    const [row] = await db.rows<EventCounts>(
      `SELECT count() AS rows, uniqExact(message_id) AS ids, uniqExact(visitParamExtractInt(properties, 'i')) AS indexes FROM events WHERE event = '${event.replace(/[\\']/g, '\\$&')}'`,
    );
    return row ?? { rows: 0, ids: 0, indexes: 0 };
  };
}
