// E-commerce: typed helpers for the Segment Ecommerce v2 events, and a cart snapshot kept across pages
// (localStorage) whose cart_id ties Product Added, Cart Viewed, Checkout Started and Order Completed
// together, so the warehouse can find carts that never became orders. Erased when consent is withdrawn.
import type { TagflowPlugin } from '../core/plugin';
import type { Properties, Tagflow, TagflowEvent } from '../core/types';
import { readJson, writeJson } from '../core/storage';
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

/** The saved cart; a new one when storage is blocked or holds something else. */
function load(): CartSnapshot {
  const saved = readJson<CartSnapshot>(storageKey);
  return saved && typeof saved.cart_id === 'string' && Array.isArray(saved.products) ? saved : { cart_id: uuid(), products: [] };
}

const same = (a: Product, b: Product) => (a.product_id ?? a.sku) === (b.product_id ?? b.sku) && a.variant === b.variant;

/** The cart after one event; pure, so the rules read in one place. */
export function nextSnapshot(cart: CartSnapshot, event: string, properties: Properties): CartSnapshot {
  const item = properties as Product;
  const quantity = typeof item.quantity === 'number' ? item.quantity : 1;
  if (event === 'Order Completed') return { cart_id: uuid(), products: [] };
  if (event === 'Product Added') {
    const found = cart.products.find((p) => same(p, item));
    const { cart_id: _id, ...product } = item as Product & { cart_id?: string };
    return {
      ...cart,
      products: found
        ? cart.products.map((p) => (p === found ? { ...p, quantity: (p.quantity ?? 1) + quantity } : p))
        : [...cart.products, { ...product, quantity }],
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
  let cart = load();
  const track = <E extends EcommerceEvent>(event: E, properties: EcommerceEvents[E]) => tagflow?.track(event, properties as Properties);
  const plugin = {
    name: 'cart',
    track,
    snapshot: () => cart,
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
        event.properties = { cart_id: cart.cart_id, ...props };
        if (event.event === 'Cart Viewed' && !props.products) event.properties.products = cart.products;
      }
      return event;
    },
    afterQueue(event: TagflowEvent) {
      if (event.type !== 'track' || !event.event) return;
      const next = nextSnapshot(cart, event.event, event.properties ?? {});
      if (next === cart) return;
      cart = next;
      // No cart_id left means consent stripped it (cookieless): then the cart lives for this page only.
      if (event.properties?.cart_id) writeJson(storageKey, cart);
    },
  } as CartPlugin;
  for (const name of events) {
    const helper = (name[0]!.toLowerCase() + name.slice(1).replace(/ /g, '')) as keyof CartHelpers;
    (plugin as unknown as Record<string, unknown>)[helper] = (properties: Properties) => tagflow?.track(name, properties);
  }
  return plugin;
}
