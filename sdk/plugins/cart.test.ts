import { beforeEach, describe, expect, it } from 'vitest';
import { createPluginHost } from '../../test/support/plugin-host';
import { cartPlugin, nextSnapshot, type CartSnapshot } from './cart';
import { consentPlugin } from './consent/consent';

beforeEach(() => localStorage.clear());

describe('cart snapshot', () => {
  it('adds, merges, removes and clears on Order Completed', () => {
    let cart: CartSnapshot = { cart_id: 'c1', products: [] };
    cart = nextSnapshot(cart, 'Product Added', { product_id: 'a', price: 5, cart_id: 'c1' });
    cart = nextSnapshot(cart, 'Product Added', { product_id: 'a', quantity: 2 });
    cart = nextSnapshot(cart, 'Product Added', { product_id: 'b', quantity: 1 });
    cart = nextSnapshot(cart, 'Product Removed', { product_id: 'b' });
    expect(cart).toEqual({ cart_id: 'c1', products: [{ product_id: 'a', price: 5, quantity: 3 }] });
    const after = nextSnapshot(cart, 'Order Completed', { order_id: 'o' });
    expect(after.products).toEqual([]);
    expect(after.cart_id).not.toBe('c1');
  });

  it('keeps no line of quantity zero or less after a Product Added (a shop sending a decrement or a zero)', () => {
    let cart: CartSnapshot = { cart_id: 'c1', products: [{ product_id: 'a', quantity: 1 }] };
    cart = nextSnapshot(cart, 'Product Added', { product_id: 'b', quantity: 0 });
    expect(cart.products).toEqual([{ product_id: 'a', quantity: 1 }]);
    cart = nextSnapshot(cart, 'Product Added', { product_id: 'a', quantity: -1 });
    expect(cart.products).toEqual([]);
  });
});

describe('cart plugin', () => {
  it('has a typed helper per Ecommerce v2 event', () => {
    const host = createPluginHost();
    const cart = cartPlugin();
    host.use(cart);
    cart.productViewed({ product_id: 'a' });
    cart.productListViewed({ products: [] });
    cart.productAdded({ product_id: 'a', price: 5 });
    cart.productRemoved({ product_id: 'a' });
    cart.cartViewed({});
    cart.checkoutStarted({ revenue: 5 });
    cart.checkoutStepCompleted({ step: 1 });
    cart.paymentInfoEntered({ payment_method: 'card' });
    cart.couponApplied({ coupon_id: 'X' });
    cart.orderCompleted({ order_id: 'o-1', revenue: 5 });
    cart.orderRefunded({ order_id: 'o-1' });
    cart.track('Product Viewed', { sku: 'z' });
    expect(host.names()).toEqual([
      'Product Viewed', 'Product List Viewed', 'Product Added', 'Product Removed', 'Cart Viewed', 'Checkout Started',
      'Checkout Step Completed', 'Payment Info Entered', 'Coupon Applied', 'Order Completed', 'Order Refunded', 'Product Viewed',
    ]);
  });

  it('ties cart events with one cart_id, persists the snapshot across pages and fills Cart Viewed', () => {
    const first = createPluginHost();
    const cart = cartPlugin();
    first.use(cart);
    first.tagflow.track('Product Added', { product_id: 'a', price: 5 }); // e.g. from the GA4 bridge
    const cartId = first.queued[0]?.properties?.cart_id;
    expect(cartId).toEqual(cart.snapshot().cart_id);

    const next = createPluginHost(); // another page
    const again = cartPlugin();
    next.use(again);
    again.cartViewed({});
    expect(next.queued[0]?.properties).toEqual({ cart_id: cartId, products: [{ product_id: 'a', price: 5, quantity: 1 }] });
    again.orderCompleted({ order_id: 'o-1' });
    expect(next.queued[1]?.properties?.cart_id).toBe(cartId);
    expect(again.snapshot().products).toEqual([]);
  });

  /** The cart before a cookieless consent plugin, in the order the README gives. */
  const cookielessCart = () => {
    const host = createPluginHost();
    const cart = cartPlugin();
    const consent = consentPlugin({ mode: 'cookieless' });
    host.use(cart);
    host.use(consent);
    return { host, cart, consent };
  };

  it('stores no cart while consent strips its cart_id (cookieless), and starts storing after the grant', () => {
    const { host, cart, consent } = cookielessCart();
    cart.productAdded({ product_id: 'a', price: 5 });
    expect(host.queued[0]?.properties).not.toHaveProperty('cart_id');
    expect(localStorage.getItem('tf_cart')).toBeNull();
    consent.set({ analytics: false });
    cart.productAdded({ product_id: 'b', price: 5 });
    expect(localStorage.getItem('tf_cart')).toBeNull();
    consent.set({ analytics: true });
    cart.productAdded({ product_id: 'c', price: 5 });
    const sent = host.queued.at(-1)?.properties?.cart_id;
    expect(sent).toEqual(expect.any(String));
    expect(JSON.parse(localStorage.getItem('tf_cart') ?? '{}')).toMatchObject({ cart_id: sent, products: [{ product_id: 'a' }, { product_id: 'b' }, { product_id: 'c' }] });
  });

  it('counts a product added before the grant once, and stores the cart once granted (cookieless)', () => {
    const { host, cart, consent } = cookielessCart();
    cart.productAdded({ product_id: 'a', price: 5 });
    consent.set({ analytics: true }); // sends the Product Added again, now with its cart_id
    const sent = host.queued.find((event) => event.properties?.cart_id)?.properties?.cart_id;
    expect(cart.snapshot()).toEqual({ cart_id: sent, products: [{ product_id: 'a', price: 5, quantity: 1 }] });
    expect(JSON.parse(localStorage.getItem('tf_cart') ?? '{}')).toEqual(cart.snapshot());
  });

  it('erases the stored cart when consent is withdrawn; the next grant ties events with a new cart_id', () => {
    const host = createPluginHost();
    const cart = cartPlugin();
    const consent = consentPlugin();
    host.use(cart);
    host.use(consent);
    consent.set({ analytics: true });
    cart.productAdded({ product_id: 'a', price: 5 });
    const old = host.queued.at(-1)?.properties?.cart_id;
    expect(JSON.parse(localStorage.getItem('tf_cart') ?? '{}')).toMatchObject({ cart_id: old });
    consent.set({ analytics: false });
    expect(localStorage.getItem('tf_cart')).toBeNull();
    expect(cart.snapshot()).toEqual({ cart_id: expect.not.stringMatching(String(old)), products: [{ product_id: 'a', price: 5, quantity: 1 }] });
    consent.set({ analytics: true });
    cart.cartViewed({});
    expect(host.queued.at(-1)?.properties).toEqual({ cart_id: cart.snapshot().cart_id, products: [{ product_id: 'a', price: 5, quantity: 1 }] });
  });

  // Two plugins in one document share its localStorage, as two tabs of a site do.
  it('keeps the products added in two tabs, and a cart completed in one is not reused by the other', () => {
    const one = createPluginHost();
    const cartOne = cartPlugin();
    one.use(cartOne);
    const two = createPluginHost();
    const cartTwo = cartPlugin();
    two.use(cartTwo);
    cartOne.productAdded({ product_id: 'p1', price: 10 });
    cartTwo.productAdded({ product_id: 'p2', price: 20 });
    const ids = (cart: CartSnapshot) => cart.products.map((p) => p.product_id);
    expect(ids(cartOne.snapshot())).toEqual(['p1', 'p2']);
    expect(ids(cartPlugin().snapshot())).toEqual(['p1', 'p2']); // a new page
    const completed = cartOne.snapshot().cart_id;
    cartOne.orderCompleted({ order_id: 'o-1', revenue: 30 });
    cartTwo.productAdded({ product_id: 'p3', price: 5 });
    const added = two.queued.at(-1)?.properties;
    expect(added).toMatchObject({ product_id: 'p3', cart_id: cartOne.snapshot().cart_id });
    expect(added?.cart_id).not.toBe(completed);
    expect(ids(cartOne.snapshot())).toEqual(['p3']);
  });

  it('keeps a cart that lives for this page only (cookieless), whatever else is stored', () => {
    localStorage.setItem('tf_cart', 'not json');
    const host = createPluginHost();
    const cart = cartPlugin();
    host.use(cart);
    host.use(consentPlugin({ mode: 'cookieless' }));
    cart.productAdded({ product_id: 'a', price: 5 });
    cart.productAdded({ product_id: 'b', price: 5 });
    expect(cart.snapshot().products.map((p) => p.product_id)).toEqual(['a', 'b']);
    expect(localStorage.getItem('tf_cart')).toBe('not json');
  });
});
