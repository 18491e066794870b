// Pages for browser tests, served at the collector's origin (so CORS is as on a real site) through
// Playwright's routing: the paste-in snippet with the given settings loads the full build.
import type { BrowserContext, Page } from 'playwright-core';
import { renderSnippet } from '../../collector/routes/demo';
import type { TestCollector } from './collector';

export interface TestPageOptions {
  /** Settings merged into the snippet's (consent, tags, …); `debug` is on. */
  settings?: Record<string, unknown>;
  /** HTML put in <head> before the snippet (e.g. a TCF stub) and in <body>. */
  head?: string;
  body?: string;
  /** Path of the page (default /test/page). */
  path?: string;
}

export interface TestPage {
  page: Page;
  /** Console messages of the page, in order. */
  console: string[];
  /** URLs of every request the page made to the collector's API (/v1/…). */
  apiRequests: string[];
}

/** Serves every /test/ path of the collector's origin with this page, opens it and waits for the SDK. */
export async function openTestPage(context: BrowserContext, collector: TestCollector, options: TestPageOptions = {}): Promise<TestPage> {
  const snippet = renderSnippet({
    writeKey: collector.source.writeKey,
    endpoint: collector.url,
    src: `${collector.url}/sdk/tagflow.full.min.js`,
    debug: true,
    ...options.settings,
  });
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test page</title>${options.head ?? ''}<script>${snippet}</script></head><body><h1>Test page</h1><p>Some text so the page paints content.</p>${options.body ?? ''}</body></html>`;
  await context.route(`${collector.url}/test/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
  const page = await context.newPage();
  const result: TestPage = { page, console: [], apiRequests: [] };
  page.on('console', (message) => result.console.push(message.text()));
  page.on('request', (request) => {
    if (request.url().startsWith(`${collector.url}/v1/`)) result.apiRequests.push(request.url());
  });
  await page.goto(`${collector.url}${options.path ?? '/test/page'}`);
  await page.waitForFunction(() => !Array.isArray((window as unknown as { tagflow?: unknown }).tagflow));
  return result;
}

/** Records in every IndexedDB database of the page (0 when none exists). */
export function indexedDbRecords(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const request = <T>(r: IDBRequest<T>) => new Promise<T>((resolve, reject) => ((r.onsuccess = () => resolve(r.result)), (r.onerror = () => reject(r.error))));
    let records = 0;
    for (const { name } of await indexedDB.databases()) {
      if (!name) continue;
      const db = await request(indexedDB.open(name));
      for (const store of Array.from(db.objectStoreNames)) records += await request(db.transaction(store).objectStore(store).count());
      db.close();
    }
    return records;
  });
}

/**
 * Forgets every earlier test's tabs, choices, identity, cart and queue at the collector's origin (cookies,
 * storage, IndexedDB), so a test starts as a first visit. Open tabs are closed: one would hold the send lock.
 */
export async function startAsFirstVisit(context: BrowserContext, collector: TestCollector): Promise<void> {
  for (const open of context.pages()) await open.close();
  await context.clearCookies();
  const page = await context.newPage();
  await page.goto(`${collector.url}/healthz`);
  await page.evaluate(async () => {
    localStorage.clear();
    sessionStorage.clear();
    for (const { name } of await indexedDB.databases()) if (name) indexedDB.deleteDatabase(name);
  });
  await page.close();
}
