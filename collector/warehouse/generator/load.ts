// Turns generated deliveries into `events` rows through the collector's own validation and
// normalisation, and loads them in batches, in delivery (shuffled) order.
import { applyConsentDecision, deniedConsent, eventDenials } from '../../ingest/consent';
import { isObject, validateEvent } from '../../ingest/event';
import { toEventRow, type EventRow } from '../../ingest/normalize';
import type { ClickHouseClient } from '../client';
import { clickhouseWarehouse } from '../events';
import type { Delivery } from './generate';

/** Rows exactly as the collector would write them; throws if the generator made an invalid event. */
export function deliveriesToRows(deliveries: readonly Delivery[]): EventRow[] {
  return deliveries.map((delivery) => {
    // Like collector/ingest/process.ts with the default consent policy: analytics-denied events are stored
    // without ids. Deliveries are single events, so their own consent is the whole decision (no batch context).
    const context = isObject(delivery.raw.context) ? delivery.raw.context : {};
    const denials = eventDenials(context, []);
    const denied = denials.length > 0;
    const result = validateEvent(delivery.raw, { requireIds: !denied });
    if (!result.ok) throw new Error(`generator produced an invalid event: ${result.reason}`);
    const consent = applyConsentDecision(result.event, denied, 'strip');
    if (!consent.keep) throw new Error('the strip policy keeps every event');
    const row = toEventRow(consent.event, { source: delivery.source, receivedAt: delivery.receivedAt, sentAt: Date.parse(delivery.sentAt), ip: '', userAgent: '' });
    // The consent that was applied, as the collector stores it for a stripped event.
    if (consent.stripped) row.consent = JSON.stringify(deniedConsent(context.consent, denials));
    return row;
  });
}

/** Inserts rows in batches of `batchSize` (one INSERT per batch, as the collector does). */
export async function loadRows(client: ClickHouseClient, rows: readonly EventRow[], batchSize = 20_000): Promise<void> {
  const warehouse = clickhouseWarehouse(client);
  for (let i = 0; i < rows.length; i += batchSize) await warehouse.insertEvents(rows.slice(i, i + batchSize));
}
