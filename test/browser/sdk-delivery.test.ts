// Real Chromium, real collector, real ClickHouse: events fired just before a tab closes arrive (the
// page-hide beacon), a collector answering 503 three times still gets every event exactly once, and
// two tabs of one site firing together never deliver one messageId twice.
import { afterAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../support/clickhouse';
import { browserPoolSuite } from '../support/browser-suite';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { eventCounts, installSdk, openSdkPage, trackMany } from '../support/sdk-page';

const suite = browserPoolSuite();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const proxy of proxies) await proxy.close();
});

async function proxy(failFirst: number): Promise<FaultProxy> {
  const started = await startFaultProxy(suite.collector.url, { failFirst, retryAfter: '1' });
  proxies.push(started);
  return started;
}

const counts = (event: string) => eventCounts(suite.collector.db, event);
const duplicates = (ids: string[]) => ids.filter((id, i) => ids.indexOf(id) !== i);

describe('SDK delivery in Chromium', () => {
  it('delivers events fired just before the tab closes', async () => {
    const { context } = await suite.browsers.fresh();
    // Nothing would be sent by count or timer before the tab is gone: only the page-hide path can deliver.
    await installSdk(context, suite.collector.url, { writeKey: suite.collector.source.writeKey, endpoint: suite.collector.url, batchSize: 100, flushInterval: 600_000 });
    const page = await openSdkPage(context, suite.collector.url);
    await trackMany(page, 'Fired Before Close', 5);
    await page.close({ runBeforeUnload: true });
    const arrived = await waitUntil(counts('Fired Before Close'), (c) => c.ids === 5);
    expect(arrived.ids).toBe(5);
  });

  it('retries through three 503 answers (honouring Retry-After) and delivers every event once', async () => {
    const faulty = await proxy(3);
    const { context } = await suite.browsers.fresh();
    await installSdk(context, faulty.url, { writeKey: suite.collector.source.writeKey, endpoint: faulty.url });
    const page = await openSdkPage(context, faulty.url);
    await trackMany(page, 'Survived 503', 30);
    const arrived = await waitUntil(counts('Survived 503'), (c) => c.ids === 30, 30_000);
    await waitUntil(async () => faulty.acknowledged.length, (n) => n >= 30); // the proxy records after the collector answered
    expect(faulty.failed).toBe(3);
    expect(arrived).toEqual({ rows: 30, ids: 30, indexes: 30 });
    expect(faulty.acknowledged).toHaveLength(30);
    expect(duplicates(faulty.acknowledged)).toEqual([]);
  });

  it('never sends one messageId twice from two tabs firing together', async () => {
    const counting = await proxy(0);
    const { context } = await suite.browsers.fresh();
    await installSdk(context, counting.url, { writeKey: suite.collector.source.writeKey, endpoint: counting.url, batchSize: 10 });
    const [first, second] = await Promise.all([openSdkPage(context, counting.url), openSdkPage(context, counting.url)]);
    if (!first || !second) throw new Error('two tabs expected');
    await Promise.all([trackMany(first, 'Two Tabs', 100, 0), trackMany(second, 'Two Tabs', 100, 100)]);
    const arrived = await waitUntil(counts('Two Tabs'), (c) => c.ids === 200, 30_000);
    await waitUntil(async () => counting.acknowledged.length, (n) => n >= 200);
    expect(arrived).toEqual({ rows: 200, ids: 200, indexes: 200 });
    expect(counting.acknowledged).toHaveLength(200);
    expect(duplicates(counting.acknowledged)).toEqual([]);
  });
});
