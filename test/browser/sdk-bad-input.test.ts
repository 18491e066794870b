// What a page may pass the core build (tagflow.min.js) by mistake, in real Chromium against a real
// collector and ClickHouse: ids the collector would refuse (which used to be kept, and persisted, as the
// user's, so that every later event went to quarantine), a plugin whose beforeQueue returns no event,
// the window in the properties, properties that cannot be serialised, and the collector's reasons for
// the events it refuses.
import type { ConsoleMessage, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { openTestPage, startAsFirstVisit, type TestPage } from '../support/test-page';

const suite = browserSuite();

interface Row {
  type: string;
  event: string;
  user_id: string;
  traits: string;
  properties: string;
}
const rows = (where: string) => () => suite.collector.db.rows<Row>(`SELECT type, event, user_id, traits, properties FROM events WHERE ${where}`);
const quarantined = (marker: string) => suite.collector.db.rows<{ reason: string }>(`SELECT reason FROM events_quarantine WHERE position(raw, '${marker}') > 0`);

type TagflowWindow = Window & {
  tagflow: {
    track(e: string, p?: unknown): void;
    identify(...args: unknown[]): void;
    alias(id: unknown): void;
    use(plugin: object): void;
    flush(): Promise<void>;
    dropped: Record<string, number>;
  };
};

/** A first visit to a page of the core build, with debug on; `head` runs before the snippet. */
async function openCorePage(path: string, head?: string): Promise<TestPage> {
  await startAsFirstVisit(suite.browser.context, suite.collector);
  return openTestPage(suite.browser.context, suite.collector, { path, head, settings: { src: `${suite.collector.url}/sdk/tagflow.min.js` } });
}

/** Tracks `name` and sends it now. */
const trackNow = (page: Page, name: string, properties?: unknown) =>
  page.evaluate(
    async ([event, props]) => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.track(event as string, props);
      await tagflow.flush();
    },
    [name, properties] as const,
  );

/** Reloads the page and waits for the SDK to replace the snippet's stub. */
async function reload(page: Page): Promise<void> {
  await page.reload();
  await page.waitForFunction(() => !Array.isArray((window as unknown as { tagflow?: unknown }).tagflow));
}

describe('identify and alias with ids the collector would refuse', () => {
  it('keep the current user id, record the traits, and every later event lands, also after a reload', async () => {
    const { page, console: logs } = await openCorePage('/test/bad-ids');
    await page.evaluate(async () => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.identify('u-bad-ids', { plan: 'pro' });
      tagflow.identify({ email: 'bad-ids@example.com' }); // Segment's identify(traits)
      tagflow.identify('u'.repeat(101), { step: 1 });
      tagflow.identify(Number('12345678901234567891'), { step: 2 }); // past 2^53: not read exactly
      tagflow.identify(true, { step: 3 });
      tagflow.alias({ email: 'bad-ids@example.com' });
      tagflow.track('Bad Ids After');
      await tagflow.flush();
    });
    await reload(page);
    await trackNow(page, 'Bad Ids After Reload');

    const got = await waitUntil(rows("event LIKE 'Bad Ids After%' OR (type = 'identify' AND user_id = 'u-bad-ids')"), (r) => r.length === 7);
    expect(got.map((r) => r.user_id)).toEqual(Array(7).fill('u-bad-ids'));
    const identifies = got.filter((r) => r.type === 'identify').map((r) => JSON.parse(r.traits) as Record<string, unknown>);
    expect(identifies).toEqual(expect.arrayContaining([{ email: 'bad-ids@example.com' }, { step: 1 }, { step: 2 }, { step: 3 }]));
    expect(await quarantined('u'.repeat(101))).toEqual([]);
    expect(await quarantined('Bad Ids After')).toEqual([]);
    const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('tf_id') ?? '{}') as { userId?: unknown; traits?: unknown });
    expect(stored).toMatchObject({ userId: 'u-bad-ids', traits: { plan: 'pro', email: 'bad-ids@example.com', step: 3 } });
    for (const bad of ['u'.repeat(101), '12345678901234567000', 'true']) expect(logs).toContain(`[tagflow] invalid userId: ${bad}`);
    await page.close();
  });

  it('forget a user id an older version stored unchecked, so the events it poisoned land again', async () => {
    const poisoned = JSON.stringify({ anonymousId: 'a-poisoned', userId: { email: 'old@example.com' }, traits: { plan: 'pro' } });
    const { page } = await openCorePage('/test/poisoned', `<script>localStorage.setItem('tf_id', ${JSON.stringify(poisoned)})</script>`);
    await trackNow(page, 'After Poisoned Identity');
    const [row] = await waitUntil(rows("event = 'After Poisoned Identity'"), (r) => r.length === 1);
    expect(row?.user_id).toBe('');
    expect(await page.evaluate(() => JSON.parse(localStorage.getItem('tf_id') ?? '{}') as Record<string, unknown>)).not.toHaveProperty('userId');
    await page.close();
  });
});

describe('a plugin whose beforeQueue returns no event', () => {
  it('leaves the event as it was, logs the plugin, and the IndexedDB queue keeps working', async () => {
    const { page, console: logs } = await openCorePage('/test/keep-all');
    await page.evaluate(() => (window as unknown as TagflowWindow).tagflow.use({ name: 'keep-all', beforeQueue: () => true }));
    await trackNow(page, 'Kept By Keep-All', { i: 1 });
    const [row] = await waitUntil(rows("event = 'Kept By Keep-All'"), (r) => r.length === 1);
    expect(JSON.parse(row?.properties ?? '{}')).toEqual({ i: 1 });
    expect(logs).toContain('[tagflow] keep-all beforeQueue returned true');
    // A queued `true` had no messageId for its IndexedDB key: the failed write moved the queue to memory.
    expect(logs.filter((line) => line.includes('IndexedDB error'))).toEqual([]);
    await page.close();
  });
});

describe('properties the SDK cannot send as given', () => {
  it('leave out the window, and with it every localStorage value', async () => {
    const { page } = await openCorePage('/test/window', `<script>localStorage.setItem('session-token', 'secret-token-value')</script>`);
    await page.evaluate(async () => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.track('With Window', { w: window, event: { view: window, detail: 1 }, ok: 1 });
      await tagflow.flush();
    });
    const [row] = await waitUntil(rows("event = 'With Window'"), (r) => r.length === 1);
    expect(JSON.parse(row?.properties ?? '{}')).toEqual({ event: { detail: 1 }, ok: 1 });
    await page.close();
  });

  it('that cannot be serialised are refused with a debug message saying so', async () => {
    const { page, console: logs } = await openCorePage('/test/unserialisable');
    const dropped = await page.evaluate(async () => {
      const { tagflow } = window as unknown as TagflowWindow;
      tagflow.track('Getter', {
        get boom() {
          throw new Error('boom');
        },
      });
      tagflow.track(
        'Proxy',
        new Proxy(
          {},
          {
            ownKeys() {
              throw new Error('proxy');
            },
          },
        ),
      );
      return tagflow.dropped;
    });
    expect(dropped.tooLarge).toBe(2);
    expect(logs.filter((line) => line.startsWith('[tagflow] cannot be serialised'))).toHaveLength(2);
    expect(logs.filter((line) => line.startsWith('[tagflow] over 32 KB'))).toEqual([]);
    await page.close();
  });
});

describe('events the collector refuses', () => {
  it('are logged with the collector’s reasons', async () => {
    const { page } = await openCorePage('/test/refused');
    await page.evaluate(() => (window as unknown as TagflowWindow).tagflow.flush()); // the page view goes first, alone
    const sent: unknown[][] = [];
    const reading: Promise<unknown>[] = [];
    page.on('console', (message: ConsoleMessage) => {
      if (message.text().startsWith('[tagflow] sent')) reading.push(Promise.all(message.args().map((arg) => arg.jsonValue())).then((args) => sent.push(args)));
    });
    await trackNow(page, ''); // track needs an event name
    await waitUntil(async () => (await Promise.all(reading), sent.length), (n) => n > 0);
    expect(sent[0]).toEqual(['[tagflow]', 'sent', 1, expect.objectContaining({ status: 400, rejected: [{ index: 0, reason: 'track needs an event name' }] })]);
    await page.close();
  });
});
