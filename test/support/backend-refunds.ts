// Orders refunded by the shop's backend under an identity that is not the buyer's (a server library's service
// anonymousId, an order-system user id, the buyer's account on a device never linked to it), an order_id ordered
// under two persons, and refunds that match no order: of an order_id no one ordered, and without an order_id. The
// value and segment tests load it into a database of their own.
import type { EventRow } from '../../collector/ingest/normalize';
import { loadRows } from '../../collector/warehouse/generator/load';
import { runIdentityJob } from '../../collector/warehouse/identity/job';
import { createTestDatabase, type TestDatabase } from './clickhouse';
import { eventRow } from './events';

export const refundsStart = Date.UTC(2026, 2, 2, 12);
const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;
const t = refundsStart;

type Ids = { userId: string; anonymousId?: string } | { anonymousId: string };
const track = (ids: Ids, event: string, properties: Record<string, unknown>, at: number, source: string): EventRow =>
  eventRow({ type: 'track', ...ids, event, properties }, at, source);
const order = (ids: Ids, orderId: string, revenue: number, at: number): EventRow => track(ids, 'Order Completed', { order_id: orderId, revenue }, at, 'web');
const refund = (ids: Ids, properties: Record<string, unknown>, at: number): EventRow => track(ids, 'Order Refunded', properties, at, 'backend');

/** A Segment server library's fixed anonymousId, and the order system's own user id. */
const shopBackend = { anonymousId: 'shop-backend' };
const orderSystem = { userId: 'order-system' };

export function backendRefundRows(): EventRow[] {
  return [
    // bea buys for 80; the backend refunds 20 under its service anonymousId.
    order({ userId: 'bea', anonymousId: 'bea-laptop' }, 'C-1', 80, t),
    refund(shopBackend, { order_id: 'C-1', revenue: 20 }, t + 3 * day),
    // cal buys for 120 on a phone never linked to the account; the refund (no amount: the whole order) comes
    // under the account's userId, in the next month.
    order({ anonymousId: 'cal-phone' }, 'C-2', 120, t + hour),
    refund({ userId: 'cal' }, { order_id: 'C-2' }, t + 40 * day),
    // dan buys for 100; two senders ask for 60 each (the second is cut to the 40 left), then dan's own full refund
    // finds nothing left.
    order({ userId: 'dan' }, 'C-3', 100, t),
    refund(shopBackend, { order_id: 'C-3', revenue: 60 }, t + 1 * day),
    refund(orderSystem, { order_id: 'C-3', revenue: 60 }, t + 2 * day),
    refund({ userId: 'dan' }, { order_id: 'C-3' }, t + 3 * day),
    // A shared kiosk, never merged: the order is placed anonymously, then the thank-you page reloads after gus
    // logged in (a new anonymousId). One order, the earliest Order Completed's; gus's refund of it goes there.
    order({ anonymousId: 'kiosk-1' }, 'D-1', 70, t + 2 * hour),
    order({ userId: 'gus', anonymousId: 'kiosk-2' }, 'D-1', 70, t + 2 * hour + 10 * minute),
    refund({ userId: 'gus' }, { order_id: 'D-1', revenue: 10 }, t + 7 * day),
    // The backend's clock runs behind: its refund is dated before eve's order, and still refunds it.
    order({ userId: 'eve' }, 'E-1', 40, t + 3 * hour),
    refund(shopBackend, { order_id: 'E-1', revenue: 5 }, t + 3 * hour - 10 * minute),
    // Two persons' Order Completed of one order in the same millisecond: the order is the one with the smaller
    // person_key (user:fay's), whichever arrives first, with its revenue (40, not flo's 45).
    order({ userId: 'flo' }, 'F-1', 45, t + 4 * hour),
    order({ userId: 'fay' }, 'F-1', 40, t + 4 * hour),
    // No one ordered C-404 or C-405: their refunds count their amounts (nothing without one), uncapped, for the
    // sender of each order_id's first refund.
    refund(shopBackend, { order_id: 'C-404', revenue: 15 }, t + 5 * day),
    refund(orderSystem, { order_id: 'C-404', revenue: 3 }, t + 6 * day),
    refund(orderSystem, { order_id: 'C-405' }, t + 5 * day),
    // Without an order_id a refund stays with its sender too.
    refund(orderSystem, { revenue: 5 }, t + 6 * day),
  ];
}

/** A database of its own (the value views and top LTV are shop-wide) holding backendRefundRows, identities resolved. */
export async function backendRefundsDatabase(prefix: string): Promise<TestDatabase> {
  const shop = await createTestDatabase(prefix);
  await loadRows(shop.client, backendRefundRows());
  await runIdentityJob(shop.client);
  return shop;
}
