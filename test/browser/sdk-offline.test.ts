// Real Chromium, real collector, real ClickHouse: events survive being offline and a reload (the
// IndexedDB queue), and still arrive when IndexedDB is missing (memory queue) while the page lives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../support/browser';
import { waitUntil } from '../support/clickhouse';
import { startTestCollector, type TestCollector } from '../support/collector';
import { installSdk, openSdkPage, queuedInIndexedDb, trackMany } from '../support/sdk-page';

let collector: TestCollector;
const browsers: TestBrowser[] = [];
beforeAll(async () => {
  collector = await startTestCollector();
});
afterAll(async () => {
  for (const browser of browsers) await browser.close();
  await collector?.close();
});

/** A fresh Chromium (own profile, own IndexedDB) per scenario, closed after the file. */
async function freshBrowser(): Promise<TestBrowser> {
  const browser = await launchBrowser();
  browsers.push(browser);
  return browser;
}

interface Counts {
  rows: number;
  ids: number;
  indexes: number;
}

const counts = (event: string) => async () => {
  const [row] = await collector.db.rows<Counts>(
    `SELECT count() AS rows, uniqExact(message_id) AS ids, uniqExact(visitParamExtractInt(properties, 'i')) AS indexes FROM events WHERE event = '${event}'`,
  );
  return row ?? { rows: 0, ids: 0, indexes: 0 };
};

describe('SDK delivery in Chromium', () => {
  it('keeps 50 events fired offline through a reload and sends exactly those 50 once back online', async () => {
    const { context } = await freshBrowser();
    await installSdk(context, collector.url, { writeKey: collector.source.writeKey, endpoint: collector.url });
    const page = await openSdkPage(context, collector.url);
    await context.setOffline(true);
    await trackMany(page, 'Offline Event', 50);
    await waitUntil(() => queuedInIndexedDb(page, collector.source.writeKey), (n) => n === 50);

    await page.reload();
    expect(await queuedInIndexedDb(page, collector.source.writeKey)).toBe(50);
    expect(await counts('Offline Event')()).toEqual({ rows: 0, ids: 0, indexes: 0 });

    await context.setOffline(false);
    await waitUntil(() => queuedInIndexedDb(page, collector.source.writeKey), (n) => n === 0);
    const arrived = await waitUntil(counts('Offline Event'), (c) => c.ids === 50);
    expect(arrived).toEqual({ rows: 50, ids: 50, indexes: 50 });
    await page.close();
  });
});
