// Segment's own Node library, pointed at the collector with its `host` option: what it sends lands in
// ClickHouse as Segment would store it.
import { Analytics } from '@segment/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../test/support/clickhouse';
import { startTestCollector, type TestCollector } from '../../test/support/collector';

let collector: TestCollector;
beforeAll(async () => {
  collector = await startTestCollector();
});
afterAll(() => collector?.close());

interface Row {
  type: string;
  event: string;
  name: string;
  user_id: string;
  anonymous_id: string;
  properties: string;
  traits: string;
  library_name: string;
  is_bot: number;
}

describe('@segment/analytics-node against the collector', () => {
  it('delivers track, identify and page calls that land in ClickHouse', async () => {
    const analytics = new Analytics({ writeKey: collector.source.writeKey, host: collector.url, flushAt: 3, maxRetries: 1 });
    const failures: unknown[] = [];
    analytics.on('error', (error) => failures.push(error));
    analytics.identify({ userId: 'seg-user', traits: { email: 'seg@example.com', plan: 'pro' } });
    analytics.track({ userId: 'seg-user', event: 'Order Completed', properties: { order_id: 'o-1', revenue: 42.5, currency: 'EUR' } });
    analytics.page({ anonymousId: 'seg-anon', name: 'Pricing', properties: { path: '/pricing', url: 'https://shop.example/pricing' } });
    await analytics.closeAndFlush({ timeout: 10_000 });
    expect(failures).toEqual([]);

    const rows = await waitUntil(
      () => collector.db.rows<Row>("SELECT type, event, name, user_id, anonymous_id, properties, traits, library_name, is_bot FROM events WHERE library_name = '@segment/analytics-node' ORDER BY type"),
      (r) => r.length === 3,
    );
    expect(rows.map((r) => r.type)).toEqual(['identify', 'page', 'track']);
    // Its User-Agent (analytics-node-next/latest) names the library, not a crawler.
    expect(rows.map((r) => r.is_bot)).toEqual([0, 0, 0]);
    const [identify, page, track] = rows;
    expect(identify).toMatchObject({ user_id: 'seg-user' });
    expect(JSON.parse(identify?.traits ?? '{}')).toEqual({ email: 'seg@example.com', plan: 'pro' });
    expect(page).toMatchObject({ name: 'Pricing', anonymous_id: 'seg-anon' });
    expect(JSON.parse(page?.properties ?? '{}')).toMatchObject({ path: '/pricing' });
    expect(track).toMatchObject({ event: 'Order Completed', user_id: 'seg-user' });
    expect(JSON.parse(track?.properties ?? '{}')).toEqual({ order_id: 'o-1', revenue: 42.5, currency: 'EUR' });
  });
});
