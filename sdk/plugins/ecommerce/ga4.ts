// Pure mapping of GA4 e-commerce dataLayer pushes onto Segment Ecommerce v2 events, so a shop that
// already feeds Google Tag Manager (or calls gtag.js) needs no new code.
import type { Properties } from '../../core/types';
import { gtagArguments } from '../datalayer';
import { isBag, type Bag } from '../shape';
import type { Product } from './types';

/** One Segment event made from a push. */
export interface MappedEvent {
  event: string;
  properties: Properties;
}

/** Events made from a push, or why a GA4 e-commerce push could not be read. */
export type Ga4Mapping = { events: MappedEvent[] } | { error: string };

const names: Record<string, string> = {
  view_item: 'Product Viewed',
  view_item_list: 'Product List Viewed',
  add_to_cart: 'Product Added',
  remove_from_cart: 'Product Removed',
  view_cart: 'Cart Viewed',
  begin_checkout: 'Checkout Started',
  add_payment_info: 'Payment Info Entered',
  purchase: 'Order Completed',
  refund: 'Order Refunded',
};

/** A number, or a string holding one (sites often push prices as "12.50", which GA4 accepts). */
function numberOf(value: unknown): number | undefined {
  const number = typeof value === 'string' && value.trim() ? Number(value) : value;
  return typeof number === 'number' && isFinite(number) ? number : undefined;
}

/** Text, from a string or a number (ids are often pushed as numbers). */
const textOf = (value: unknown) => (typeof value === 'string' || typeof value === 'number' ? String(value) : undefined);

/**
 * Copies the fields of `from` named in `fields` that `typed` can read (`textOf` or `numberOf`), as it reads
 * them. `fields` lists Segment names, each followed by `=ga4_name` when GA4's differs.
 */
function pick(from: Bag, fields: string, typed: (value: unknown) => string | number | undefined): Properties {
  const out: Properties = {};
  for (const field of fields.split(' ')) {
    const [to, key = to] = field.split('=') as [string, string?];
    const value = typed(from[key]);
    if (value !== undefined) out[to] = value;
  }
  return out;
}

/**
 * Maps one dataLayer entry. Returns undefined for entries that are not GA4 e-commerce events (they
 * are none of our business), `{ error }` for an e-commerce event of the wrong shape.
 */
export function fromGa4(pushed: unknown): Ga4Mapping | undefined {
  // gtag('event', name, params) carries the e-commerce fields at the top level of its params.
  const [command, name, params] = gtagArguments(pushed) ?? [];
  const entry = command === 'event' ? { event: name, ecommerce: params } : pushed;
  if (!isBag(entry) || typeof entry.event !== 'string') return undefined;
  const segmentName = names[entry.event];
  if (typeof segmentName !== 'string') return undefined; // e.g. `constructor`, a function every object inherits
  const ecommerce = entry.ecommerce;
  if (!isBag(ecommerce)) return { error: `${entry.event}: ecommerce must be an object` };
  const { items = [], currency } = ecommerce;
  if (!Array.isArray(items) || !items.every(isBag)) return { error: `${entry.event}: ecommerce.items must be an array of objects` };
  for (const key of ['value', 'tax', 'shipping']) {
    if (ecommerce[key] !== undefined && numberOf(ecommerce[key]) === undefined) return { error: `${entry.event}: ecommerce.${key} must be a number` };
  }
  // Each item in Segment's names, with the push's currency.
  const products: Product[] = items.map((item) => ({
    ...pick(item, 'product_id=item_id sku=item_id name=item_name brand=item_brand category=item_category variant=item_variant coupon', textOf),
    ...pick(item, 'price quantity position=index', numberOf),
    ...(typeof currency === 'string' && { currency }),
  }));
  const perItem = entry.event === 'view_item' || entry.event === 'add_to_cart' || entry.event === 'remove_from_cart';
  if (perItem) {
    if (products.length === 0) return { error: `${entry.event}: ecommerce.items is empty` };
    return { events: products.map((p) => ({ event: segmentName, properties: p as Properties })) };
  }
  const order: Properties = {
    ...pick(ecommerce, 'order_id=transaction_id coupon currency affiliation payment_method=payment_type', textOf),
    // Segment's list fields are Product List Viewed's: on an order, a list's `category` would read as one more
    // product category (a cross-sell in the warehouse's multi-category count).
    ...(entry.event === 'view_item_list' && pick(ecommerce, 'list_id=item_list_id category=item_list_name', textOf)),
    ...pick(ecommerce, 'tax shipping', numberOf),
    products,
  };
  const value = numberOf(ecommerce.value);
  if (entry.event === 'purchase' || entry.event === 'refund') {
    if (order.order_id === undefined) return { error: `${entry.event}: ecommerce.transaction_id is required` };
    if (value !== undefined) {
      // GA4's value excludes tax and shipping, which is what Segment calls revenue.
      order.revenue = value;
      order.total = value + ((order.tax as number | undefined) ?? 0) + ((order.shipping as number | undefined) ?? 0);
    }
  } else if (value !== undefined) {
    order.value = value;
  }
  return { events: [{ event: segmentName, properties: order }] };
}
