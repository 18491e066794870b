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

    await page.click('#add-to-cart');
    await page.click('#buy');
    await page.getByRole('button', { name: '9', exact: true }).click();
    const events = () => suite.collector.db.rows<{ event: string; properties: string }>("SELECT event, properties FROM events WHERE type = 'track' ORDER BY timestamp_ms");
    const rows = await waitUntil(events, (r) => r.length >= 3);
    expect(rows.map((r) => r.event)).toEqual(['Product Added', 'Order Completed', 'Survey Responded']);
    expect(JSON.parse(rows[1]!.properties)).toMatchObject({ revenue: 89, currency: 'EUR', products: [{ product_id: 'shoe-1', price: 89, quantity: 1 }] });
    expect(consoleLines).toContain('[demo tag] Buy now clicked');
    // Before the visitor answers, the demo sends cookieless: no cart id that would link pages together.
    expect(rows.map((r) => 'cart_id' in (JSON.parse(r.properties) as object))).toEqual([false, false, false]);

    const conversions = () => page.evaluate(() => (window as unknown as { dataLayer: { event?: string }[] }).dataLayer.filter((e) => e.event === 'ads_conversion'));
    expect(await conversions()).toEqual([]); // needs marketing consent
    await banner.getByRole('button', { name: 'Accept all' }).click();
    await page.waitForFunction(() => (window as unknown as { dataLayer: { event?: string }[] }).dataLayer.some((e) => e.event === 'ads_conversion'));
    expect(await conversions()).toEqual([{ event: 'ads_conversion', value: 89 }]);
    await page.close();
  });
});
