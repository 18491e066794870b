// Real Chromium, real collector, real ClickHouse: events survive being offline, a reload and a browser
// restart (the IndexedDB queue), still arrive when IndexedDB is missing (memory queue) while the page
// lives, and a persist:false policy leaves nothing on the device.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser';
import { waitUntil } from '../support/clickhouse';
import { browserPoolSuite } from '../support/browser-suite';
import { eventCounts, installSdk, openSdkPage, queuedInIndexedDb, trackMany } from '../support/sdk-page';

const suite = browserPoolSuite();

const counts = (event: string) => eventCounts(suite.collector.db, event);

describe('SDK delivery in Chromium', () => {
  it('keeps 50 events fired offline through a reload and sends exactly those 50 once back online', async () => {
    const { context } = await suite.browsers.fresh();
    await installSdk(context, suite.collector.url, { writeKey: suite.collector.source.writeKey, endpoint: suite.collector.url });
    const page = await openSdkPage(context, suite.collector.url);
    await context.setOffline(true);
    await trackMany(page, 'Offline Event', 50);
    await waitUntil(() => queuedInIndexedDb(page, suite.collector.source.writeKey), (n) => n === 50);

    await page.reload();
    expect(await queuedInIndexedDb(page, suite.collector.source.writeKey)).toBe(50);
    expect(await counts('Offline Event')()).toEqual({ rows: 0, ids: 0, indexes: 0 });

    await context.setOffline(false);
    await waitUntil(() => queuedInIndexedDb(page, suite.collector.source.writeKey), (n) => n === 0);
    const arrived = await waitUntil(counts('Offline Event'), (c) => c.ids === 50);
    expect(arrived).toEqual({ rows: 50, ids: 50, indexes: 50 });
    await page.close();
  });

  for (const [breakage, script] of [
    ['missing', `Object.defineProperty(window, 'indexedDB', { configurable: true, get() { return undefined; } });`],
    ['throwing on open', `indexedDB.open = () => { throw new DOMException('IndexedDB is disabled here', 'InvalidStateError'); };`],
  ] as const) {
    it(`sends events while the page lives when IndexedDB is ${breakage}, without an error in the page`, async () => {
      const { context } = await suite.browsers.fresh();
      await context.addInitScript({ content: script });
      await installSdk(context, suite.collector.url, { writeKey: suite.collector.source.writeKey, endpoint: suite.collector.url });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${suite.collector.url}/sdk-test`);
      const event = `No IndexedDB (${breakage})`;
      await trackMany(page, event, 30);
      const arrived = await waitUntil(counts(event), (c) => c.ids === 30);
      expect(arrived).toEqual({ rows: 30, ids: 30, indexes: 30 });
      expect(await page.evaluate(() => typeof (window as unknown as { tagflow: { track?: unknown } }).tagflow.track)).toBe('function');
      expect(errors).toEqual([]);
    });
  }

  it('sends events tracked in one millisecond in the order they were tracked, through the IndexedDB queue', async () => {
    const { context } = await suite.browsers.fresh();
    await installSdk(context, suite.collector.url, { writeKey: suite.collector.source.writeKey, endpoint: suite.collector.url });
    const page = await openSdkPage(context, suite.collector.url);
    // 20 calls in one task take well under a millisecond or two: most share their queued-at ms.
    await trackMany(page, 'Ordered Event', 20);
    await waitUntil(counts('Ordered Event'), (c) => c.ids === 20);
    // The warehouse orders a person's events within a ms by their position in the batch (migration 034).
    const rows = await suite.collector.db.rows<{ i: number }>(
      "SELECT visitParamExtractInt(properties, 'i') AS i FROM events WHERE event = 'Ordered Event' ORDER BY timestamp_ms, batch_position",
    );
    expect(rows.map((r) => r.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await page.close();
  });

  it('keeps events queued offline through a browser restart and sends them once it is back', async () => {
    const profile = mkdtempSync(join(tmpdir(), 'tagflow-restart-'));
    try {
      const first = await launchBrowser(profile);
      await installSdk(first.context, suite.collector.url, { writeKey: suite.collector.source.writeKey, endpoint: suite.collector.url });
      const page = await openSdkPage(first.context, suite.collector.url);
      await first.context.setOffline(true);
      await trackMany(page, 'Across Restart', 10);
      await waitUntil(() => queuedInIndexedDb(page, suite.collector.source.writeKey), (n) => n === 10);
      await first.close();
      expect(await counts('Across Restart')()).toEqual({ rows: 0, ids: 0, indexes: 0 });

      const second = await launchBrowser(profile);
      try {
        await installSdk(second.context, suite.collector.url, { writeKey: suite.collector.source.writeKey, endpoint: suite.collector.url });
        await openSdkPage(second.context, suite.collector.url);
        const arrived = await waitUntil(counts('Across Restart'), (c) => c.ids === 10);
        expect(arrived).toEqual({ rows: 10, ids: 10, indexes: 10 });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it('with a plugin setting persist:false writes no cookie, localStorage or IndexedDB, yet delivers; persist:true then writes the identity', async () => {
    const { context } = await suite.browsers.fresh();
    await installSdk(context, suite.collector.url, { writeKey: suite.collector.source.writeKey, endpoint: suite.collector.url });
    // Added in the same task that created the instance, as a consent plugin in the snippet build would be.
    await context.addInitScript({
      content: `tagflow.use({ name: 'no-storage', setup(api) { window.policyApi = api; api.setPolicy({ persist: false }); } });`,
    });
    const page = await openSdkPage(context, suite.collector.url);
    await trackMany(page, 'Memory Only', 10);
    const arrived = await waitUntil(counts('Memory Only'), (c) => c.ids === 10);
    expect(arrived.ids).toBe(10);
    const device = () =>
      page.evaluate(async () => ({
        cookie: document.cookie,
        localStorage: Object.keys(localStorage),
        databases: (await indexedDB.databases()).map((d) => d.name),
      }));
    expect(await device()).toEqual({ cookie: '', localStorage: [], databases: [] });

    await page.evaluate(() => (window as unknown as { policyApi: { setPolicy(p: object): void } }).policyApi.setPolicy({ persist: true }));
    const after = await device();
    expect(after.cookie).toMatch(/^tf_aid=[0-9a-f-]{36}$/);
    expect(after.localStorage).toContain('tf_id');
  });
});
