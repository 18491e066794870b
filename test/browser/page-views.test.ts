// Page views in real Chromium (full build, a real collector and ClickHouse) in the cases that used to
// corrupt them: views held by consent and released on a grant.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { openTestPage } from '../support/test-page';

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

type TagflowWindow = Window & { tagflow: { track(e: string, p?: object): void; consent: { set(c: Record<string, boolean>): void } } };

/** No tab, cookie, storage or queue left from an earlier test: each starts as a first visit. */
async function freshContext(): Promise<void> {
  for (const open of suite.browser.context.pages()) await open.close(); // a tab left open would hold the send lock
  await suite.browser.context.clearCookies();
  const page = await suite.browser.context.newPage();
  await page.goto(`${suite.collector.url}/healthz`);
  await page.evaluate(async () => {
    localStorage.clear();
    sessionStorage.clear();
    for (const { name } of await indexedDB.databases()) if (name) indexedDB.deleteDatabase(name);
  });
  await page.close();
}

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
