// The GA4 dataLayer bridge and the cart in real Chromium: a shop that only feeds GTM gets Segment
// e-commerce rows in ClickHouse; a push of the wrong shape is ignored with a debug message.
import { describe, expect, it } from 'vitest';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { openTestPage } from '../support/test-page';

const suite = browserSuite();

const rows = (where: string) => () => suite.collector.db.rows<{ event: string; properties: string }>(`SELECT event, properties FROM events WHERE ${where} ORDER BY timestamp_ms`);

describe('GA4 dataLayer bridge in Chromium', () => {
  it('turns a GA4 purchase push into an Order Completed row with the right revenue and products', async () => {
    const { page, console } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/shop' });
    await page.evaluate(() => {
      const dataLayer = (window as unknown as { dataLayer: unknown[] }).dataLayer;
      const shoe = { item_id: 'shoe-1', item_name: 'Trail shoes', item_brand: 'Acme', item_category: 'Shoes', price: 89, quantity: 2 };
      dataLayer.push({ event: 'add_to_cart', ecommerce: { currency: 'EUR', value: 178, items: [shoe] } });
      dataLayer.push({ event: 'purchase', ecommerce: 'not an object' }); // wrong shape: ignored
      dataLayer.push({ event: 'purchase', ecommerce: { transaction_id: 'T-1001', currency: 'EUR', value: 183, tax: 12, shipping: 4.9, items: [shoe, { item_id: 'sock-1', item_name: 'Socks', price: 5, quantity: 1 }] } });
    });
    const [order] = await waitUntil(rows("event = 'Order Completed'"), (r) => r.length === 1);
    const properties = JSON.parse(order!.properties) as Record<string, unknown>;
    expect(properties).toMatchObject({ order_id: 'T-1001', revenue: 183, total: 199.9, tax: 12, shipping: 4.9, currency: 'EUR' });
    expect(properties.products).toEqual([
      { product_id: 'shoe-1', sku: 'shoe-1', name: 'Trail shoes', brand: 'Acme', category: 'Shoes', price: 89, quantity: 2, currency: 'EUR' },
      { product_id: 'sock-1', sku: 'sock-1', name: 'Socks', price: 5, quantity: 1, currency: 'EUR' },
    ]);
    // The revenue is readable in SQL on ClickHouse 18.16 and later.
    const [sum] = await suite.collector.db.rows<{ revenue: number }>("SELECT sum(visitParamExtractFloat(properties, 'revenue')) AS revenue FROM events WHERE event = 'Order Completed'");
    expect(sum?.revenue).toBe(183);
    // The cart ties the add and the order together, so abandoned carts can be found.
    const [added] = await rows("event = 'Product Added'")();
    expect((JSON.parse(added!.properties) as { cart_id: string }).cart_id).toBe(properties.cart_id);
    expect(console.some((line) => line.includes('dataLayer push ignored: purchase: ecommerce must be an object'))).toBe(true);
    expect(await rows("event = 'Order Completed'")()).toHaveLength(1);
    await page.close();
  });

  it('turns a gtag.js purchase call (no GTM, prices as text) into an Order Completed row', async () => {
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/gtag-shop' });
    await page.evaluate(() => {
      const w = window as unknown as { dataLayer: unknown[]; gtag: (...args: unknown[]) => void };
      // gtag.js's own definition: it pushes its arguments object.
      w.gtag = function () {
        w.dataLayer.push(arguments);
      };
      w.gtag('event', 'purchase', { transaction_id: 'T-gtag-1', currency: 'EUR', value: '59.90', items: [{ item_id: 'cap-1', item_name: 'Cap', price: '59.90', quantity: 1 }] });
    });
    const [order] = await waitUntil(rows("event = 'Order Completed' AND page_path = '/test/gtag-shop'"), (r) => r.length === 1);
    expect(JSON.parse(order!.properties)).toMatchObject({ order_id: 'T-gtag-1', revenue: 59.9, total: 59.9, currency: 'EUR', products: [{ product_id: 'cap-1', name: 'Cap', price: 59.9, quantity: 1, currency: 'EUR' }] });
    await page.close();
  });
});
