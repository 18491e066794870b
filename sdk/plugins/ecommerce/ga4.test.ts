import { describe, expect, it } from 'vitest';
import { fromGa4 } from './ga4';

const items = [
  { item_id: 'shoe-1', item_name: 'Trail shoes', item_brand: 'Acme', item_category: 'Shoes', item_variant: '42', price: 89, quantity: 2, index: 0 },
  { item_id: 7, item_name: 'Socks', price: 5, quantity: 1 },
];

describe('GA4 dataLayer → Segment Ecommerce v2', () => {
  it('maps purchase onto Order Completed with revenue, total and products', () => {
    const mapped = fromGa4({ event: 'purchase', ecommerce: { transaction_id: 'T-1', value: 183, tax: 10, shipping: 5, currency: 'EUR', coupon: 'SUMMER', items } });
    expect(mapped).toEqual({
      events: [
        {
          event: 'Order Completed',
          properties: {
            order_id: 'T-1', revenue: 183, total: 198, tax: 10, shipping: 5, currency: 'EUR', coupon: 'SUMMER',
            products: [
              { product_id: 'shoe-1', sku: 'shoe-1', name: 'Trail shoes', brand: 'Acme', category: 'Shoes', variant: '42', price: 89, quantity: 2, position: 0, currency: 'EUR' },
              { product_id: '7', sku: '7', name: 'Socks', price: 5, quantity: 1, currency: 'EUR' },
            ],
          },
        },
      ],
    });
  });

  it('makes one Product Added per item of add_to_cart, with the product fields at the top level', () => {
    const mapped = fromGa4({ event: 'add_to_cart', ecommerce: { currency: 'EUR', value: 183, items } });
    expect(mapped && 'events' in mapped && mapped.events.map((e) => [e.event, e.properties.product_id, e.properties.quantity])).toEqual([
      ['Product Added', 'shoe-1', 2],
      ['Product Added', '7', 1],
    ]);
  });

  it.each([
    ['view_item', 'Product Viewed'],
    ['view_item_list', 'Product List Viewed'],
    ['remove_from_cart', 'Product Removed'],
    ['view_cart', 'Cart Viewed'],
    ['begin_checkout', 'Checkout Started'],
    ['add_payment_info', 'Payment Info Entered'],
    ['refund', 'Order Refunded'],
  ])('maps %s onto %s', (ga4, segment) => {
    const mapped = fromGa4({ event: ga4, ecommerce: { transaction_id: 'T-1', items: [items[0]] } });
    expect(mapped && 'events' in mapped && mapped.events[0]?.event).toBe(segment);
  });

  it('gives the list fields to Product List Viewed only, not to an order that names its list', () => {
    const list = { item_list_id: 'summer', item_list_name: 'Summer sale', items: [items[0]] };
    const viewed = fromGa4({ event: 'view_item_list', ecommerce: list });
    expect(viewed && 'events' in viewed && viewed.events[0]?.properties).toMatchObject({ list_id: 'summer', category: 'Summer sale' });
    const ordered = fromGa4({ event: 'purchase', ecommerce: { ...list, transaction_id: 'T-5', value: 10 } });
    expect(ordered && 'events' in ordered && ordered.events[0]?.properties).not.toHaveProperty('category');
    expect(ordered && 'events' in ordered && ordered.events[0]?.properties).not.toHaveProperty('list_id');
  });

  it('reads gtag.js calls, which push an arguments object with the e-commerce fields at the top level', () => {
    // As gtag.js does: `function gtag() { dataLayer.push(arguments); }`.
    function gtag(..._args: unknown[]): IArguments {
      return arguments;
    }
    const mapped = fromGa4(gtag('event', 'purchase', { transaction_id: 'T-9', value: 89, currency: 'EUR', items: [items[0]] }));
    expect(mapped).toEqual({ events: [{ event: 'Order Completed', properties: expect.objectContaining({ order_id: 'T-9', revenue: 89, total: 89, products: [expect.objectContaining({ product_id: 'shoe-1' })] }) }] });
    expect(fromGa4(gtag('event', 'page_view', { page_title: 'x' }))).toBeUndefined();
    expect(fromGa4(gtag('config', 'G-XXXX'))).toBeUndefined();
  });

  it('takes numbers pushed as text, as GA4 does', () => {
    const mapped = fromGa4({ event: 'purchase', ecommerce: { transaction_id: 'T-2', value: '120.50', tax: ' 20 ', items: [{ item_id: 'a', price: '60.25', quantity: '2' }] } });
    expect(mapped).toEqual({
      events: [{ event: 'Order Completed', properties: { order_id: 'T-2', revenue: 120.5, total: 140.5, tax: 20, products: [{ product_id: 'a', sku: 'a', price: 60.25, quantity: 2 }] } }],
    });
  });

  it('leaves pushes that are not GA4 e-commerce events alone', () => {
    expect(fromGa4({ event: 'gtm.js' })).toBeUndefined();
    expect(fromGa4({ ecommerce: null })).toBeUndefined();
    expect(fromGa4(['consent', 'update', {}])).toBeUndefined();
    expect(fromGa4('purchase')).toBeUndefined();
    expect(fromGa4({ event: 'constructor', ecommerce: {} })).toBeUndefined(); // inherited by the name table, not a name
  });

  it.each([
    [{ event: 'purchase', ecommerce: 'T-1' }, 'purchase: ecommerce must be an object'],
    [{ event: 'purchase', ecommerce: { transaction_id: 'T', items: 'shoe' } }, 'purchase: ecommerce.items must be an array of objects'],
    [{ event: 'purchase', ecommerce: { items: [] } }, 'purchase: ecommerce.transaction_id is required'],
    [{ event: 'purchase', ecommerce: { transaction_id: 'T', value: 'twelve' } }, 'purchase: ecommerce.value must be a number'],
    [{ event: 'add_to_cart', ecommerce: { items: [] } }, 'add_to_cart: ecommerce.items is empty'],
  ])('names the problem of a push of the wrong shape, case %#', (push, error) => {
    expect(fromGa4(push)).toEqual({ error });
  });
});
