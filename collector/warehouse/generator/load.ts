// Turns generated deliveries into `events` rows through the collector's own validation and
// normalisation, and loads them in batches, in delivery (shuffled) order.
import { validateEvent } from '../../ingest/event';
import { toEventRow, type EventRow } from '../../ingest/normalize';
import type { ClickHouseClient } from '../client';
import { clickhouseWarehouse } from '../events';
import type { Delivery } from './generate';

/** Rows exactly as the collector would write them; throws if the generator made an invalid event. */
export function deliveriesToRows(deliveries: readonly Delivery[]): EventRow[] {
  return deliveries.map((delivery) => {
    const result = validateEvent(delivery.raw);
    if (!result.ok) throw new Error(`generator produced an invalid event: ${result.reason}`);
    return toEventRow(result.event, { source: delivery.source, receivedAt: delivery.receivedAt, sentAt: delivery.sentAt, ip: '', userAgent: '', context: {} });
  });
}

/** Inserts rows in batches of `batchSize` (one INSERT per batch, as the collector does). */
export async function loadRows(client: ClickHouseClient, rows: readonly EventRow[], batchSize = 20_000): Promise<void> {
  const warehouse = clickhouseWarehouse(client);
  for (let i = 0; i < rows.length; i += batchSize) await warehouse.insertEvents(rows.slice(i, i + batchSize));
}
