// E-commerce: typed helpers for the Segment Ecommerce v2 events, and a cart snapshot kept across pages
// (localStorage) whose cart_id ties Product Added, Cart Viewed, Checkout Started and Order Completed
// together, so the warehouse can find carts that never became orders. Erased when consent is withdrawn.
import type { TagflowPlugin } from '../core/plugin';
import type { Properties, Tagflow, TagflowEvent } from '../core/types';
import { parseJson, readLocal, writeJson } from '../core/storage';
import { uuid } from '../core/uuid';
import type { EcommerceEvent, EcommerceEvents, Product } from './ecommerce/types';

export type { EcommerceEvent, EcommerceEvents, Order, Product } from './ecommerce/types';

/** What is in the cart now. */
export interface CartSnapshot {
  cart_id: string;
  products: Product[];
}

type Joined<S extends string> = S extends `${infer Head} ${infer Tail}` ? `${Head}${Joined<Tail>}` : S;
/** `'Product List Viewed'` → `'productListViewed'`. */
type HelperName<E extends string> = Uncapitalize<Joined<E>>;

/** One typed helper per event: `cart.orderCompleted({ order_id, revenue, products })`. */
export type CartHelpers = { [E in EcommerceEvent as HelperName<E>]: (properties: EcommerceEvents[E]) => void };

export interface CartPlugin extends TagflowPlugin, CartHelpers {
  /** Tracks any supported e-commerce event with its typed properties. */
  track<E extends EcommerceEvent>(event: E, properties: EcommerceEvents[E]): void;
  /** The current cart. */
  snapshot(): CartSnapshot;
}

const events: EcommerceEvent[] = [
  'Product Viewed', 'Product List Viewed', 'Product Added', 'Product Removed', 'Cart Viewed', 'Checkout Started',
  'Checkout Step Completed', 'Payment Info Entered', 'Coupon Applied', 'Order Completed', 'Order Refunded',
];
const withCartId = ['Product Added', 'Product Removed', 'Cart Viewed', 'Checkout Started', 'Order Completed'];
const storageKey = 'tf_cart';

/** The cart stored as `raw`; undefined when there is none or it is something else. */
function parse(raw: string | null | undefined): CartSnapshot | undefined {
  const saved = parseJson<CartSnapshot>(raw);
  return saved && typeof saved.cart_id === 'string' && Array.isArray(saved.products) ? saved : undefined;
}

const same = (a: Product, b: Product) => (a.product_id ?? a.sku) === (b.product_id ?? b.sku) && a.variant === b.variant;

/** The cart after one event; pure, so the rules read in one place. */
export function nextSnapshot(cart: CartSnapshot, event: string | undefined, properties: Properties): CartSnapshot {
  const item = properties as Product;
  const quantity = typeof item.quantity === 'number' ? item.quantity : 1;
  if (event === 'Order Completed') return { cart_id: uuid(), products: [] };
  if (event === 'Product Added') {
    const found = cart.products.find((p) => same(p, item));
    const { cart_id: _id, ...product } = item as Product & { cart_id?: string };
    return {
      ...cart,
      products: (found
        ? cart.products.map((p) => (p === found ? { ...p, quantity: (p.quantity ?? 1) + quantity } : p))
        : [...cart.products, { ...product, quantity }]
      ).filter((p) => (p.quantity ?? 1) > 0), // a Product Added may carry a zero or a decrement
    };
  }
  if (event === 'Product Removed') {
    return {
      ...cart,
      products: cart.products
        .map((p) => (same(p, item) ? { ...p, quantity: (p.quantity ?? 1) - quantity } : p))
        .filter((p) => (p.quantity ?? 1) > 0),
    };
  }
  return cart;
}

/** The e-commerce plugin: `tagflow.use(cart)`, then `cart.productAdded({...})`. */
export function cartPlugin(): CartPlugin {
  let tagflow: Tagflow | undefined;
  // The cart is the browser's, shared by the site's tabs: re-read before each use, so a product added or
  // an order completed in another tab is not undone by this tab's older copy.
  /** tf_cart as this page last read or wrote it: another value there was written by another tab. */
  let seen = readLocal(storageKey);
  let cart = parse(seen) ?? { cart_id: uuid(), products: [] };
  /** messageIds of the track events this page has applied to the cart. */
  const counted = new Set<string>();
  /** The cart, after adopting another tab's change. None stored (blocked, erased, cookieless): this page's. */
  const current = () => {
    const raw = readLocal(storageKey);
    if (raw !== seen) cart = parse((seen = raw)) ?? cart;
    return cart;
  };
  const track = <E extends EcommerceEvent>(event: E, properties: EcommerceEvents[E]) => tagflow?.track(event, properties as Properties);
  const plugin = {
    name: 'cart',
    track,
    snapshot: current,
    setup(api) {
      tagflow = api.tagflow;
    },
    erase() {
      // Consent withdrawn: the stored cart goes, and its id with it (the products stay for this page).
      writeJson(storageKey, undefined);
      cart = { ...cart, cart_id: uuid() };
    },
    beforeQueue(event: TagflowEvent) {
      const props = event.properties ?? {};
      if (event.type === 'track' && withCartId.includes(event.event ?? '')) {
        const { cart_id, products } = current();
        // The site's own cart_id wins; a Cart Viewed that lists no products gets the cart's.
        event.properties = { cart_id, ...props, ...(event.event === 'Cart Viewed' && !props.products && { products }) };
      }
      return event;
    },
    afterQueue(event: TagflowEvent) {
      if (event.type !== 'track') return;
      const before = current();
      // An event that comes back (consent sends it again with its cart_id once granted, cookieless) changed
      // the cart when its stripped copy went: now it only stores it.
      const again = counted.has(event.messageId);
      counted.add(event.messageId);
      const next = again ? before : nextSnapshot(before, event.event, event.properties ?? {});
      if (next === before && !again) return;
      cart = next;
      // No cart_id left means consent stripped it (cookieless): then the cart lives for this page only.
      if (event.properties?.cart_id) {
        writeJson(storageKey, cart);
        seen = readLocal(storageKey); // as written, or what is there when writing failed
      }
    },
  } as CartPlugin;
  for (const name of events) {
    const helper = (name[0]!.toLowerCase() + name.slice(1).replace(/ /g, '')) as keyof CartHelpers;
    (plugin as unknown as Record<string, unknown>)[helper] = (properties: Properties) => tagflow?.track(name, properties);
  }
  return plugin;
}
