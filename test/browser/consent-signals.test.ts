// The consent plugin against what a page says before and around it, in real Chromium (full build, real
// collector and ClickHouse): a Consent Mode default or a TCF answer that denies analytics before the SDK
// applies its `defaults`, `consent.set` called with what is not a choice, and the landing URL's campaign
// after a visitor rejects everything.
import type { Request } from 'playwright-core';
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
  campaign_source: string;
  context: string;
}
const rows = (where: string) => () =>
  suite.collector.db.rows<Row>(`SELECT type, event, page_path, anonymous_id, campaign_source, context FROM events WHERE ${where} ORDER BY timestamp_ms`);

type TagflowWindow = Window & {
  tagflow: {
    track(e: string, p?: object): void;
    flush(): Promise<void>;
    consent: { set(c: unknown): void; get(): Record<string, boolean>; decided(): boolean };
  };
  /** Every cookie and localStorage write of the page, as `cookie name=value` or `storage key`. */
  writes: string[];
};

/** Put in <head> before anything else: records every cookie and localStorage write, even one undone later. */
const recordWrites = `<script>
  window.writes = [];
  const cookie = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
  Object.defineProperty(document, 'cookie', {
    configurable: true,
    get: () => cookie.get.call(document),
    set: (value) => (writes.push('cookie ' + value.split(';')[0]), cookie.set.call(document, value)),
  });
  const setItem = Storage.prototype.setItem;
  Storage.prototype.setItem = function (key, value) { writes.push('storage ' + key); return setItem.call(this, key, value); };
</script>`;
/** Writes of an identifier: the tf_aid cookie with a value (not its deletion), or tf_id. */
const identityWrites = (writes: string[]) => writes.filter((write) => /^cookie tf_aid=.|^storage tf_id$/.test(write));

const freshContext = () => startAsFirstVisit(suite.browser.context, suite.collector);

describe("the page's own consent signals, read before the SDK's defaults apply", () => {
  it('a Consent Mode default pushed before the SDK that denies analytics: nothing identifying is written, events are held', async () => {
    await freshContext();
    const head = `${recordWrites}<script>
      window.dataLayer = window.dataLayer || [];
      function gtag() { dataLayer.push(arguments); }
      gtag('consent', 'default', { analytics_storage: 'denied', ad_storage: 'denied' });
    </script>`;
    const settings = { consent: { mode: 'hold', defaults: { analytics: true } } };
    const { page, apiRequests } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/gcm-default-deny', head, settings });
    const state = await page.evaluate(async () => {
      const { tagflow, writes } = window as unknown as TagflowWindow;
      tagflow.track('Held');
      await tagflow.flush(); // would send now, and the core's writes are done
      return { preferences: tagflow.consent.get(), decided: tagflow.consent.decided(), writes, cookie: document.cookie, keys: Object.keys(localStorage) };
    });
    expect(state.preferences).toMatchObject({ analytics: false, marketing: false });
    expect(state.decided).toBe(false);
    expect(identityWrites(state.writes)).toEqual([]);
    expect({ cookie: state.cookie, keys: state.keys }).toEqual({ cookie: '', keys: [] });
    expect(await indexedDbRecords(page)).toBe(0);
    expect(apiRequests).toEqual([]);
    await page.close();
  });

  it('a TCF answer given at once that denies analytics: the identity is never written (not written, then erased)', async () => {
    await freshContext();
    const head = `${recordWrites}<script>
      window.__tcfapi = function (command, version, callback) {
        if (command === 'addEventListener') callback({ eventStatus: 'tcloaded', gdprApplies: true, purpose: { consents: { 1: true } } }, true);
      };
    </script>`;
    const settings = { consent: { mode: 'hold', defaults: { analytics: true } } };
    const { page, apiRequests } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/tcf-sync-deny', head, settings });
    const state = await page.evaluate(async () => {
      const { tagflow, writes } = window as unknown as TagflowWindow;
      tagflow.track('Denied');
      await tagflow.flush();
      return { decided: tagflow.consent.decided(), analytics: tagflow.consent.get().analytics, writes, cookie: document.cookie, keys: Object.keys(localStorage) };
    });
    expect({ decided: state.decided, analytics: state.analytics }).toEqual({ decided: true, analytics: false });
    expect(identityWrites(state.writes)).toEqual([]);
    expect({ cookie: state.cookie, keys: state.keys }).toEqual({ cookie: '', keys: ['tf_consent'] });
    expect(apiRequests).toEqual([]);
    await page.close();
  });
});

describe('consent.set with what is not a choice', () => {
  it('neither throws nor decides: the visitor stays undecided, held events survive and flow on a real grant', async () => {
    await freshContext();
    const path = '/test/set-bad-input';
    const { page, console: logs } = await openTestPage(suite.browser.context, suite.collector, { path, settings: { consent: { mode: 'hold' } } });
    const outcome = await page.evaluate(() => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.track('Held Before');
      const thrown: string[] = [];
      for (const choices of [null, undefined, 'analytics', { analytics: 'granted', marketing: 'granted' }]) {
        try {
          tagflow.consent.set(choices);
        } catch (error) {
          thrown.push(String(error));
        }
      }
      return { thrown, decided: tagflow.consent.decided(), analytics: tagflow.consent.get().analytics, keys: Object.keys(localStorage) };
    });
    expect(outcome).toEqual({ thrown: [], decided: false, analytics: false, keys: [] });
    expect(logs.filter((line) => line.startsWith('[tagflow] consent: no purpose true or false, nothing decided:'))).toHaveLength(4);
    expect(logs).toContain('[tagflow] consent: not true or false, skipped analytics granted');

    await page.evaluate(() => (window as unknown as TagflowWindow).tagflow.consent.set({ analytics: true }));
    const stored = await waitUntil(rows(`page_path = '${path}'`), (r) => r.length >= 3);
    expect(stored.map((r) => r.event || r.type).sort()).toEqual(['Consent Updated', 'Held Before', 'page']);
    await page.close();
  });
});

describe("the landing URL's campaign after Reject all (cookieless)", () => {
  it('rides on no event after a navigation: the identity it was kept for is erased', async () => {
    await freshContext();
    const landing = '/test/campaign-reject?utm_source=ad&utm_campaign=spring&gclid=g-1';
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path: landing, settings: { consent: { mode: 'cookieless', banner: true } } });
    const bodies: string[] = [];
    page.on('request', (request: Request) => {
      if (request.url().includes('/v1/batch')) bodies.push(request.postData() ?? '');
    });
    await page.getByRole('button', { name: 'Reject all' }).click();
    await page.evaluate(() => {
      history.pushState(null, '', '/test/campaign-next');
      (window as unknown as TagflowWindow).tagflow.track('After Navigation');
    });
    const after = await waitUntil(rows("page_path = '/test/campaign-next'"), (r) => r.length === 2);
    expect(after.map((r) => r.event || r.type).sort()).toEqual(['After Navigation', 'page']);
    for (const row of after) {
      expect(row.campaign_source).toBe('');
      expect(JSON.parse(row.context).campaign).toBeUndefined();
    }
    // What the browser sent, not only what the collector kept.
    const sent = bodies.flatMap((body) => (JSON.parse(body) as { batch: { context: { page: { path: string }; campaign?: unknown } }[] }).batch);
    const sentAfter = sent.filter((event) => event.context.page.path === '/test/campaign-next');
    expect(sentAfter).toHaveLength(2);
    for (const event of sentAfter) expect(event.context.campaign).toBeUndefined();
    await page.close();
  });
});
