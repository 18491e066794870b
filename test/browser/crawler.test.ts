// A crawler that renders pages runs the site's tag like a shopper, end to end: headless Chromium with its own user
// agent (HeadlessChrome, as synthetic monitors and many crawlers send) against the real collector, ClickHouse and
// the identity job. The collector flags its events (is_bot); they stay in events_dedup, and no person-level view
// counts them. (Tests about shoppers give the browser a desktop Chrome's user agent: support/browser.ts.)
import { describe, expect, it } from 'vitest';
import { runIdentityJob } from '../../collector/warehouse/identity/job';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { openTestPage } from '../support/test-page';

const suite = browserSuite();

type TagflowWindow = Window & { tagflow: { track(e: string, p?: object): void } };

describe('a crawler rendering the shop', () => {
  it('is stored and flagged, and is no visitor, session, funnel or customer', async () => {
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/crawled', settings: { vitals: false } });
    expect(await page.evaluate(() => navigator.userAgent)).toContain('HeadlessChrome');
    await page.evaluate(() => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.track('Product Viewed', { product_id: 'shoe-1' });
      tagflow.track('Order Completed', { order_id: 'o-crawled', revenue: 89 });
    });
    const stored = () => suite.collector.db.rows<{ type: string; anonymous_id: string; is_bot: number }>(
      "SELECT type, anonymous_id, is_bot FROM events_dedup WHERE page_path = '/test/crawled' ORDER BY timestamp_ms, batch_position",
    );
    const rows = await waitUntil(stored, (r) => r.length === 3);
    // With its ids (no consent manager on this page): were it a shopper, it would be one.
    expect(rows.map((r) => [r.type, r.is_bot, r.anonymous_id !== ''])).toEqual([['page', 1, true], ['track', 1, true], ['track', 1, true]]);
    await runIdentityJob(suite.collector.db.client);

    const count = async (view: string) => (await suite.collector.db.rows<{ n: number }>(`SELECT count() AS n FROM ${view}`))[0]?.n;
    expect(await count('person_events')).toBe(0);
    for (const view of ['profiles', 'sessions', 'ecommerce_funnel_daily', 'person_orders', 'customer_value', 'retention_weekly', 'paths_after_landing']) {
      expect({ view, rows: await count(view) }).toEqual({ view, rows: 0 });
    }
    await page.close();
  });
});
