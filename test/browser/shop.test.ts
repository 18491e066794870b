// The walking skeleton end to end: real Chromium opens the demo shop, the paste-in snippet loads the
// IIFE build, and the page view (then a click) lands in ClickHouse through the real collector.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../support/browser';
import { waitUntil } from '../support/clickhouse';
import { startTestCollector, type TestCollector } from '../support/collector';

let collector: TestCollector;
let browser: TestBrowser;
beforeAll(async () => {
  collector = await startTestCollector();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await collector?.close();
});

interface Row {
  type: string;
  event: string;
  page_path: string;
  page_title: string;
  anonymous_id: string;
  library_name: string;
}

describe('demo shop in Chromium', () => {
  it('sends a page view on load and a track event on click, both stored in ClickHouse', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${collector.url}/`);
    // The product page's own view_item (a Product Viewed) is left out here: demo-plugins.test.ts follows the funnel.
    const rows = (table = 'events') => () =>
      collector.db.rows<Row>(`SELECT type, event, page_path, page_title, anonymous_id, library_name FROM ${table} WHERE event != 'Product Viewed' ORDER BY timestamp_ms`);
    const [view] = await waitUntil(rows(), (r) => r.length >= 1);
    // The demo is cookieless until the visitor answers its consent banner, and the collector strips
    // identifiers from events whose consent denies analytics: stored, but with no anonymous id.
    expect(view).toMatchObject({ type: 'page', page_path: '/', page_title: 'Tagflow demo shop', library_name: 'tagflow', anonymous_id: '' });

    await page.click('#add-to-cart');
    const all = await waitUntil(rows(), (r) => r.length >= 2);
    expect(all.map((r) => r.type)).toEqual(['page', 'track']);
    expect(all[1]).toMatchObject({ event: 'Product Added', anonymous_id: '' });

    // Once the visitor accepts, events carry the device's anonymous id, and so do the ones sent before: the
    // SDK sends them again whole (same messageIds), and each message's newest delivery is what counts.
    await page.getByRole('button', { name: 'Accept all' }).click();
    await page.click('#add-to-cart');
    const identified = (r: Row[]) => r.length === 4 && r.every((row) => row.anonymous_id !== '');
    const after = await waitUntil(rows('events_dedup'), identified);
    expect(after.map((r) => r.event || r.type)).toEqual(['page', 'Product Added', 'Consent Updated', 'Product Added']);
    expect(after[0]?.anonymous_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(after.map((r) => r.anonymous_id)).size).toBe(1);
  });
});
