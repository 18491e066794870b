// Consent edge cases in real Chromium (full build, real collector and ClickHouse): a withdrawal while a
// batch is in flight, and a Google Consent Mode update that names only ad signals.
import type { Request, Route } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { indexedDbRecords, openTestPage, startAsFirstVisit } from '../support/test-page';

const suite = browserSuite();

interface Row {
  type: string;
  event: string;
  anonymous_id: string;
  user_id: string;
  consent: string;
  properties: string;
}
const rows = (where: string) => () => suite.collector.db.rows<Row>(`SELECT type, event, anonymous_id, user_id, consent, properties FROM events WHERE ${where}`);

type TagflowWindow = Window & {
  tagflow: {
    track(e: string, p?: object): void;
    identify(id: string, traits?: object): void;
    flush(): Promise<void>;
    consent: { set(c: Record<string, boolean>): void; get(): Record<string, boolean>; decided(): boolean };
  };
};

const freshContext = () => startAsFirstVisit(suite.browser.context, suite.collector);

describe('withdrawing consent while a batch is in flight (cookieless)', () => {
  it('sends none of the batches read before the erase: nothing after it carries the old ids', async () => {
    await freshContext();
    const path = '/test/inflight';
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path, settings: { consent: { mode: 'cookieless' }, batchSize: 5 } });
    await page.evaluate(async () => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.consent.set({ analytics: true });
      tagflow.identify('user-inflight', { email: 'inflight@example.com' });
      await tagflow.flush();
    });
    const oldId = await page.evaluate(() => /tf_aid=([^;]+)/.exec(document.cookie)?.[1]);
    expect(oldId).toMatch(/^[0-9a-f-]{36}$/);

    // The collector's answer to the next batch waits until the withdrawal's erase is done: the send
    // under way then resumes with nothing left to send with the old ids.
    let release: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => (release = resolve));
    let holding = true;
    await page.route('**/v1/batch', async (route: Route) => {
      if (holding) {
        holding = false;
        await answered;
      }
      await route.continue();
    });
    const sent: { afterWithdrawal: boolean; body: string }[] = [];
    let withdrawn = false;
    page.on('request', (request: Request) => {
      if (request.url().includes('/v1/batch')) sent.push({ afterWithdrawal: withdrawn, body: request.postData() ?? '' });
    });
    const firstBatch = page.waitForRequest('**/v1/batch');
    await page.evaluate(() => {
      for (let i = 0; i < 20; i++) (window as unknown as TagflowWindow).tagflow.track('Burst', { i }); // four batches of five
    });
    await firstBatch;
    withdrawn = true;
    await page.evaluate(() => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.consent.set({ analytics: false });
      tagflow.track('After Withdrawal');
    });
    // The erase empties the queue in IndexedDB; sending is allowed again (cookieless) right after that.
    await waitUntil(() => indexedDbRecords(page), (records) => records === 0);
    release();

    // One request at a time per tab: once the event tracked after the withdrawal is stored, every batch
    // the interrupted send could still have sent has been.
    await waitUntil(rows("event = 'After Withdrawal'"), (r) => r.length === 1);
    const after = sent.filter((request) => request.afterWithdrawal).map((request) => request.body);
    expect(after.some((body) => body.includes('After Withdrawal'))).toBe(true);
    for (const body of after) {
      expect(body).not.toContain(oldId);
      expect(body).not.toContain('user-inflight');
    }
    expect(await rows("event = 'Burst'")()).toHaveLength(5); // only the batch in flight at the withdrawal
    await page.close();
  });
});

describe('Google Consent Mode update naming only ad signals', () => {
  it('leaves an undecided visitor undecided (held, banner offered, nothing stored) until analytics is decided', async () => {
    await freshContext();
    const path = '/test/gcm-ads-only';
    const gtag = `<script>
      window.dataLayer = window.dataLayer || [];
      function gtag() { dataLayer.push(arguments); }
      gtag('consent', 'default', { analytics_storage: 'denied', ad_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied' });
      gtag('consent', 'update', { ad_storage: 'granted', ad_user_data: 'granted', ad_personalization: 'granted' });
    </script>`;
    const { page, apiRequests } = await openTestPage(suite.browser.context, suite.collector, { path, head: gtag, settings: { consent: { mode: 'hold', banner: true } } });
    const state = await page.evaluate(async () => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.track('Held');
      await tagflow.flush();
      return { preferences: tagflow.consent.get(), decided: tagflow.consent.decided(), cookie: document.cookie, keys: Object.keys(localStorage) };
    });
    expect(state).toEqual({ preferences: { necessary: true, analytics: false, marketing: true, personalization: false }, decided: false, cookie: '', keys: [] });
    await page.waitForSelector('[role=dialog]', { timeout: 5000 }); // undecided: the full build loads the banner
    expect(apiRequests).toEqual([]);

    await page.evaluate(() => (window as unknown as { gtag(...a: unknown[]): void }).gtag('consent', 'update', { analytics_storage: 'granted' }));
    const stored = await waitUntil(rows(`page_path = '${path}'`), (r) => r.length >= 3);
    expect(stored.map((r) => r.event || r.type).sort()).toEqual(['Consent Updated', 'Held', 'page']);
    const granted = { necessary: true, analytics: true, marketing: true, personalization: false };
    for (const row of stored) expect(JSON.parse(row.consent)).toEqual({ categoryPreferences: granted });
    expect(new Set(stored.map((r) => r.anonymous_id)).size).toBe(1); // nothing was erased in between
    await page.close();
  });
});
