// Built-in segments, defined in the rule language so they compile like any saved segment.
import type { SegmentRule } from './segment-rules';

export interface BuiltinOptions {
  /** Cart abandoners: added to the cart at least this many hours ago without ordering since (default 24). */
  cartWindowHours?: number;
  /** Cart abandoners: only carts from the last this many days (default 7). */
  cartLookbackDays?: number;
  /** Lapsed customers: no order for more than this many days (default 90). */
  lapsedDays?: number;
  /** New visitors: first seen at most this many days ago (default 7). */
  newVisitorDays?: number;
}

export interface SegmentDefinition {
  id: string;
  name: string;
  rule: SegmentRule;
  builtin: boolean;
}

export function builtinSegments(options: BuiltinOptions = {}): SegmentDefinition[] {
  const define = (id: string, name: string, rule: SegmentRule): SegmentDefinition => ({ id: `builtin_${id}`, name, rule, builtin: true });
  return [
    define('cart_abandoners', 'Cart abandoners', {
      all: [
        { event: 'Product Added', where: [], withinDays: options.cartLookbackDays ?? 7 },
        { metric: 'hours_since_last_cart_add', op: 'gte', value: options.cartWindowHours ?? 24 },
        { metric: 'ordered_since_last_cart_add', op: 'eq', value: 0 },
      ],
    }),
    define('repeat_buyers', 'Repeat buyers', { metric: 'orders', op: 'gte', value: 2 }),
    define('lapsed_customers', 'Lapsed customers', {
      all: [
        { metric: 'orders', op: 'gte', value: 1 },
        { metric: 'days_since_last_order', op: 'gt', value: options.lapsedDays ?? 90 },
      ],
    }),
    define('top_ltv_10', 'Top 10% by LTV', { top: { metric: 'ltv', percent: 10 } }),
    define('new_visitors', 'New visitors', { metric: 'days_since_first_seen', op: 'lte', value: options.newVisitorDays ?? 7 }),
  ];
}
