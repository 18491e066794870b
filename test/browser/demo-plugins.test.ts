// The demo shop shows the plugins working, as a person would try them: the consent banner, GA4
// dataLayer buttons turned into e-commerce rows, the NPS survey, and the demo container's tags.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkContainer } from '../../collector/ingest/container';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';

const demoConfig = JSON.parse(readFileSync(join(__dirname, '..', '..', 'examples', 'shop', 'tagflow.config.json'), 'utf8')) as { sources: { container: unknown }[] };
const demoContainer = checkContainer(demoConfig.sources[0]?.container);
if (!demoContainer.ok) throw new Error(`the demo container is invalid: ${demoContainer.problems.join('; ')}`);
const suite = browserSuite({ container: demoContainer.container });

describe('demo shop plugins in Chromium', () => {
  it('shows the consent banner, turns shop buttons into e-commerce rows, records the survey and fires the demo tags', async () => {
    const page = await suite.browser.context.newPage();
    const consoleLines: string[] = [];
    page.on('console', (m) => consoleLines.push(m.text()));
    await page.goto(`${suite.collector.url}/`);
    const banner = page.getByRole('dialog', { name: 'Your privacy' });
    await banner.waitFor();

    // The shopper walks the whole funnel: the product page's view_item, two adds and a remove, the cart,
    // the checkout, the order, then the survey.
    for (const button of ['#add-to-cart', '#add-to-cart', '#remove-from-cart', '#view-cart', '#checkout', '#buy']) await page.click(button);
    await page.getByRole('button', { name: '9', exact: true }).click();
    const events = () => suite.collector.db.rows<{ event: string; properties: string }>("SELECT event, properties FROM events WHERE type = 'track' ORDER BY timestamp_ms, batch_position");
    const rows = await waitUntil(events, (r) => r.length >= 8);
    expect(rows.map((r) => r.event)).toEqual([
      'Product Viewed', 'Product Added', 'Product Added', 'Product Removed', 'Cart Viewed', 'Checkout Started', 'Order Completed', 'Survey Responded',
    ]);
    const properties = rows.map((r) => JSON.parse(r.properties) as Record<string, unknown>);
    expect(properties[4]).toMatchObject({ value: 89, products: [{ product_id: 'shoe-1', quantity: 1 }] });
    expect(properties[6]).toMatchObject({ revenue: 89, currency: 'EUR', products: [{ product_id: 'shoe-1', price: 89, quantity: 1 }] });
    expect(consoleLines).toContain('[demo tag] Buy now clicked');
    // Before the visitor answers, the demo sends cookieless: no cart id that would link pages together.
    expect(properties.filter((p) => 'cart_id' in p)).toEqual([]);

    const conversions = () => page.evaluate(() => (window as unknown as { dataLayer: { event?: string }[] }).dataLayer.filter((e) => e.event === 'ads_conversion'));
    expect(await conversions()).toEqual([]); // needs marketing consent
    await banner.getByRole('button', { name: 'Accept all' }).click();
    await page.waitForFunction(() => (window as unknown as { dataLayer: { event?: string }[] }).dataLayer.some((e) => e.event === 'ads_conversion'));
    expect(await conversions()).toEqual([{ event: 'ads_conversion', value: 89 }]);
    await page.close();
  });
});
