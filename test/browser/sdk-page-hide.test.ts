// Real Chromium, real collector, real ClickHouse: what a page tracks while it unloads arrives. When a page
// goes, Chromium fires pagehide, then visibilitychange (hidden), then unload, in one go: the page's own
// pagehide listeners registered after the SDK's, and every visibilitychange listener, run after the SDK
// has handed its events to the page-hide beacon, and an IndexedDB write begun then never commits.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../support/clickhouse';
import { browserPoolSuite } from '../support/browser-suite';
import { eventCounts, installSdk, openSdkPage } from '../support/sdk-page';

const suite = browserPoolSuite();

type SdkWindow = Window & { tagflow: { track(event: string, properties?: object): void; flush(): Promise<void> } };

/** Another site, served by the test itself: leaving for it unloads the page as a link to another site does. */
const elsewhere = 'http://elsewhere.test/';

const counts = (event: string) => eventCounts(suite.collector.db, event);

/** A fresh browser running the SDK (its defaults) at the collector's origin, with the other site to leave for. */
async function freshSite(launch?: { backForwardCache?: boolean }) {
  const { context } = await suite.browsers.fresh(launch);
  await installSdk(context, suite.collector.url, { writeKey: suite.collector.source.writeKey, endpoint: suite.collector.url });
  await context.route(`${elsewhere}**`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>elsewhere</title><p>elsewhere</p>' }));
  return context;
}

const leaving: [string, (page: Page) => Promise<void>][] = [
  [
    'the visitor follows a link to another site',
    async (page) => {
      await page.evaluate((url) => (location.href = url), elsewhere);
      await page.waitForURL(elsewhere);
    },
  ],
  ['the visitor closes the tab', (page) => page.close({ runBeforeUnload: true })],
];

describe('events tracked while the page unloads', () => {
  for (const [how, leave] of leaving) {
    it(`arrive when ${how}, from a pagehide listener added after the SDK's and from a visibilitychange listener`, async () => {
      const context = await freshSite();
      const page = await openSdkPage(context, suite.collector.url);
      const name = `Leaving (${how})`;
      // The page's own listeners, as a site's scripts add them (Web Vitals, time on page, a last scroll
      // depth): the pagehide one is added after the SDK's; visibilitychange comes after pagehide anyway.
      await page.evaluate((event) => {
        const { tagflow } = window as unknown as SdkWindow;
        addEventListener('pagehide', () => tagflow.track(`${event} on pagehide`));
        document.addEventListener('visibilitychange', () => document.hidden && tagflow.track(`${event} on visibilitychange`));
      }, name);
      await leave(page);

      // The visitor comes back: whatever the queue kept goes out now, so an event missing after this never comes.
      const next = await openSdkPage(context, suite.collector.url);
      await next.evaluate(() => (window as unknown as SdkWindow).tagflow.flush());
      const onPagehide = await waitUntil(counts(`${name} on pagehide`), (c) => c.ids >= 1);
      const onHidden = await waitUntil(counts(`${name} on visibilitychange`), (c) => c.ids >= 1);
      expect([onPagehide.ids, onHidden.ids]).toEqual([1, 1]);
    });
  }

  it('once the page is back from the back/forward cache, events go in acknowledged batches again, not one beacon each', async () => {
    const context = await freshSite({ backForwardCache: true });
    // Counts this document's beacons, and records whether it was restored from the cache (the test means
    // nothing if the browser loaded the page afresh instead).
    await context.addInitScript({
      content: `window.beacons = 0; const send = navigator.sendBeacon.bind(navigator); navigator.sendBeacon = (...args) => (window.beacons++, send(...args));
        addEventListener('pageshow', (event) => { window.restored = event.persisted; });`,
    });
    const page = await openSdkPage(context, suite.collector.url);
    await page.evaluate((url) => (location.href = url), elsewhere);
    await page.waitForURL(elsewhere);
    await page.goBack({ waitUntil: 'commit' }); // a restored page fires no load event
    await page.waitForFunction(() => (window as unknown as { restored?: boolean }).restored === true);

    const beaconsForIt = await page.evaluate(async () => {
      const w = window as unknown as SdkWindow & { beacons: number };
      const before = w.beacons;
      w.tagflow.track('After Restore');
      await w.tagflow.flush();
      return w.beacons - before;
    });
    expect(beaconsForIt).toBe(0); // flush() sends it in a batch; a beacon would send it a second time
    const arrived = await waitUntil(counts('After Restore'), (c) => c.ids === 1);
    expect(arrived).toEqual({ rows: 1, ids: 1, indexes: 1 });
  });
});
