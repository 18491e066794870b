// The consent plugin in real Chromium: before a decision nothing touches the network or IndexedDB,
// granting releases the held events to ClickHouse, a denial keeps everything in the browser, a
// withdrawal erases what was stored about the visitor, and a TCF CMP's answer is read.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { indexedDbRecords, openTestPage, startAsFirstVisit } from '../support/test-page';

const suite = browserSuite();

interface Row {
  type: string;
  event: string;
  page_path: string;
  anonymous_id: string;
  consent: string;
  properties: string;
}
const rows = (where: string) => () => suite.collector.db.rows<Row>(`SELECT type, event, page_path, anonymous_id, consent, properties FROM events WHERE ${where} ORDER BY timestamp_ms`);

type TagflowWindow = Window & { tagflow: { track(e: string, p?: object): void; flush(): Promise<void>; consent: { set(c: Record<string, boolean>): void; get(): Record<string, boolean> } } };

const freshContext = () => startAsFirstVisit(suite.browser.context, suite.collector);

describe('consent in Chromium (hold mode)', () => {
  it('holds events before a decision (no request, nothing in IndexedDB); granting from the banner by keyboard lets them flow', async () => {
    await freshContext();
    const { page, apiRequests } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/hold', settings: { consent: { mode: 'hold', banner: true } } });
    await page.evaluate(async () => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.track('Held One', { n: 1 });
      tagflow.track('Held Two', { n: 2 });
      await tagflow.flush(); // would send now if anything were allowed to go
    });
    expect(apiRequests).toEqual([]);
    expect(await indexedDbRecords(page)).toBe(0);
    expect(await rows("page_path = '/test/hold'")()).toEqual([]);
    expect(await page.evaluate(() => ({ cookie: document.cookie, keys: Object.keys(localStorage) }))).toEqual({ cookie: '', keys: [] });

    // The banner has focus on "Accept all": Enter is all a keyboard user needs.
    await page.waitForSelector('[role=dialog]'); // the banner is its own file, loaded for undecided visitors
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Accept all');
    await page.keyboard.press('Enter');
    const stored = await waitUntil(rows("page_path = '/test/hold'"), (r) => r.length >= 4);
    // Events of one millisecond tie in timestamp_ms, so compare without order.
    expect(stored.map((r) => r.event || r.type).sort()).toEqual(['Consent Updated', 'Held One', 'Held Two', 'page']);
    expect(new Set(stored.map((r) => r.anonymous_id)).size).toBe(1);
    for (const row of stored) expect(JSON.parse(row.consent)).toMatchObject({ categoryPreferences: { analytics: true, marketing: true } });
    expect(await page.locator('[role=dialog]').count()).toBe(0);
    await page.close();
  });

  it('after a denial sends nothing and stores nothing, also after a reload', async () => {
    await freshContext();
    const { page, apiRequests } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/deny', settings: { consent: { mode: 'hold', banner: true } } });
    await page.getByRole('button', { name: 'Reject all' }).click();
    await page.evaluate(async () => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.track('After Denial');
      await tagflow.flush();
    });
    await page.reload();
    await page.waitForFunction(() => !Array.isArray((window as unknown as { tagflow?: unknown }).tagflow));
    const state = await page.evaluate(async () => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.track('After Reload');
      await tagflow.flush();
      return tagflow.consent.get();
    });
    expect(state).toMatchObject({ analytics: false, marketing: false });
    expect(await page.locator('[role=dialog]').count()).toBe(0); // the choice is remembered
    expect(apiRequests).toEqual([]);
    expect(await indexedDbRecords(page)).toBe(0);
    expect(await rows("page_path = '/test/deny'")()).toEqual([]);
    // No identifier was written either: no cookie, and only the choice itself in localStorage.
    expect(await page.evaluate(() => ({ cookie: document.cookie, keys: Object.keys(localStorage) }))).toEqual({ cookie: '', keys: ['tf_consent'] });
    await page.close();
  });
});

describe('consent from a TCF v2.2 CMP in Chromium', () => {
  it("maps the CMP's answer onto purposes, and events flow with it", async () => {
    await freshContext();
    // A CMP stub as IAB specifies it: __tcfapi exists before the SDK, answers addEventListener.
    const tcfStub = `<script>
      window.__tcfapi = function (command, version, callback) {
        if (command === 'addEventListener') setTimeout(function () {
          callback({ gdprApplies: true, eventStatus: 'tcloaded', listenerId: 1, purpose: { consents: { 1: true, 8: true, 9: true, 2: false } } }, true);
        });
      };
    </script>`;
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/tcf', head: tcfStub, settings: { consent: { mode: 'hold' } } });
    const [updated] = await waitUntil(rows("page_path = '/test/tcf' AND event = 'Consent Updated'"), (r) => r.length === 1);
    const expected = { necessary: true, analytics: true, marketing: false, personalization: false };
    expect(JSON.parse(updated!.properties)).toEqual({ categoryPreferences: expected });
    const view = await waitUntil(rows("page_path = '/test/tcf' AND type = 'page'"), (r) => r.length === 1);
    expect(JSON.parse(view[0]!.consent)).toEqual({ categoryPreferences: expected });
    expect(await page.evaluate(() => (window as unknown as TagflowWindow).tagflow.consent.get())).toEqual(expected);
    await page.close();
  });
});

describe('consent from Google Consent Mode v2 in Chromium', () => {
  it('reads gtag consent default and update from dataLayer', async () => {
    await freshContext();
    const gtag = `<script>
      window.dataLayer = window.dataLayer || [];
      function gtag() { dataLayer.push(arguments); }
      gtag('consent', 'default', { analytics_storage: 'denied', ad_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied' });
    </script>`;
    const { page, apiRequests } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/gcm', head: gtag, settings: { consent: { mode: 'hold' } } });
    await page.evaluate(() => (window as unknown as TagflowWindow).tagflow.flush());
    expect(apiRequests).toEqual([]);
    await page.evaluate(() => {
      const w = window as unknown as { gtag(...a: unknown[]): void };
      w.gtag('consent', 'update', { analytics_storage: 'granted', ad_storage: 'granted', ad_user_data: 'granted', ad_personalization: 'denied' });
    });
    const [updated] = await waitUntil(rows("page_path = '/test/gcm' AND event = 'Consent Updated'"), (r) => r.length === 1);
    expect(JSON.parse(updated!.properties)).toEqual({ categoryPreferences: { necessary: true, analytics: true, marketing: false, personalization: false } });
    await waitUntil(rows("page_path = '/test/gcm' AND type = 'page'"), (r) => r.length === 1);
    await page.close();
  });
});

describe('withdrawing consent in Chromium', () => {
  type ErasingWindow = TagflowWindow & { tagflow: { identify(id: string, traits?: object): void; cart: { productAdded(p: object): void } } };
  /** The SDK's keys on the device: the tf_aid cookie, localStorage (minus the choice itself) and sessionStorage. */
  const stored = (page: Page) =>
    page.evaluate(() => ({
      cookie: document.cookie,
      local: Object.fromEntries(Object.keys(localStorage).filter((k) => k !== 'tf_consent').map((k) => [k, localStorage.getItem(k)])),
      session: Object.fromEntries(Object.keys(sessionStorage).map((k) => [k, sessionStorage.getItem(k)])),
    }));

  it.each(['cookieless', 'hold'] as const)(
    '%s: erases the cookie and stored keys, sends nothing with the old ids, and a re-grant starts a new anonymous id',
    async (mode) => {
      await freshContext();
      const path = `/test/erase-${mode}`;
      const { page } = await openTestPage(suite.browser.context, suite.collector, { path: `${path}?utm_source=mail&gclid=g-1`, settings: { consent: { mode } } });
      /** Every body the page sent to the collector (fetch and beacon), in order. */
      const bodies: string[] = [];
      page.on('request', (request) => {
        if (request.url().includes('/v1/batch')) bodies.push(request.postData() ?? '');
      });
      await page.evaluate(async () => {
        const { tagflow } = window as unknown as ErasingWindow;
        tagflow.consent.set({ analytics: true });
        tagflow.identify('user-erase', { email: 'erase@example.com' });
        tagflow.cart.productAdded({ product_id: 'p-1', price: 5 });
        await tagflow.flush();
      });
      const granted = await waitUntil(rows(`page_path = '${path}' AND event = 'Product Added'`), (r) => r.length === 1);
      const oldId = granted[0]!.anonymous_id;
      const oldCart = (JSON.parse(granted[0]!.properties) as { cart_id: string }).cart_id;
      expect(oldId).toMatch(/^[0-9a-f-]{36}$/);
      // Everything that identifies the visitor is on the device now.
      const before = await stored(page);
      expect(before.cookie).toContain(`tf_aid=${oldId}`);
      expect(JSON.parse(before.local.tf_id ?? '{}')).toMatchObject({ anonymousId: oldId, userId: 'user-erase' });
      expect(JSON.parse(before.local.tf_cart ?? '{}')).toMatchObject({ cart_id: oldCart });
      const { session } = JSON.parse(before.local.tf_id ?? '{}') as { session?: [string, number] };
      expect(JSON.parse(before.local.tf_campaign ?? '[]')).toEqual([session?.[0], { source: 'mail', gclid: 'g-1' }]); // the session's campaign

      const sentBefore = bodies.length;
      await page.evaluate(async () => {
        const { tagflow } = window as unknown as ErasingWindow;
        tagflow.consent.set({ analytics: false });
        tagflow.track('After Withdrawal');
        tagflow.cart.productAdded({ product_id: 'p-2', price: 7 });
        await tagflow.flush();
      });
      // Gone from the device: no cookie, no identity, cart or campaign (only the choice remains).
      expect(await stored(page)).toEqual({ cookie: '', local: {}, session: {} });
      expect(await page.evaluate(() => Object.keys(localStorage))).toEqual(['tf_consent']);
      if (mode === 'cookieless') await waitUntil(rows(`page_path = '${path}' AND event = 'After Withdrawal'`), (r) => r.length === 1);
      const after = bodies.slice(sentBefore).join('\n');
      expect(after.length > 0).toBe(mode === 'cookieless'); // cookieless still sends, hold sends nothing
      for (const identifier of [oldId, oldCart, 'user-erase', 'erase@example.com']) expect(after).not.toContain(identifier);

      await page.evaluate(async () => {
        const { tagflow } = window as unknown as ErasingWindow;
        tagflow.consent.set({ analytics: true });
        tagflow.track('After Regrant');
        await tagflow.flush();
      });
      const [regranted] = await waitUntil(rows(`page_path = '${path}' AND event = 'After Regrant'`), (r) => r.length === 1);
      expect(regranted!.anonymous_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(regranted!.anonymous_id).not.toBe(oldId);
      expect((await stored(page)).cookie).toBe(`tf_aid=${regranted!.anonymous_id}`);
      await page.close();
    },
  );

  it('a withdrawal in one tab also holds for the site\'s other open tabs: none sends or writes back the old id', async () => {
    await freshContext();
    const path = '/test/erase-tabs';
    const first = await openTestPage(suite.browser.context, suite.collector, { path, settings: { consent: { mode: 'cookieless' } } });
    await first.page.evaluate(() => (window as unknown as ErasingWindow).tagflow.consent.set({ analytics: true }));
    const other = await openTestPage(suite.browser.context, suite.collector, { path, settings: { consent: { mode: 'cookieless' } } });
    const bodies: string[] = [];
    other.page.on('request', (request) => {
      if (request.url().includes('/v1/batch')) bodies.push(request.postData() ?? '');
    });
    await other.page.evaluate(async () => {
      const { tagflow } = window as unknown as ErasingWindow;
      tagflow.track('Other Tab Granted');
      await tagflow.flush();
    });
    const [granted] = await waitUntil(rows(`page_path = '${path}' AND event = 'Other Tab Granted'`), (r) => r.length === 1);
    const oldId = granted!.anonymous_id;
    expect(oldId).toMatch(/^[0-9a-f-]{36}$/);

    const sentBefore = bodies.length;
    await first.page.evaluate(() => (window as unknown as ErasingWindow).tagflow.consent.set({ analytics: false }));
    await other.page.waitForFunction(() => (window as unknown as ErasingWindow).tagflow.consent.get().analytics === false);
    await other.page.evaluate(async () => {
      const { tagflow } = window as unknown as ErasingWindow;
      tagflow.track('Other Tab After Withdrawal');
      await tagflow.flush();
    });
    await waitUntil(rows(`page_path = '${path}' AND event = 'Other Tab After Withdrawal'`), (r) => r.length === 1);
    expect(bodies.slice(sentBefore).join('\n')).not.toContain(oldId);
    expect(await stored(other.page)).toEqual({ cookie: '', local: {}, session: {} });
    await first.page.close();
    await other.page.close();
  });
});
