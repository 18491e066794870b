// Several open tabs of one site in real Chromium (one browser context, full build, real collector and
// ClickHouse): the identity and the cart snapshot are the browser's, so what one tab does (log in, log
// out, grant consent, add to the cart, complete an order) is what the other tabs use next.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { openTestPage, startAsFirstVisit } from '../support/test-page';

const suite = browserSuite();

type TabWindow = Window & {
  tagflow: {
    track(event: string, properties?: object): void;
    identify(userId: string, traits?: object): void;
    reset(): void;
    flush(): Promise<void>;
    consent: { set(choices: Record<string, boolean>): void; get(): Record<string, boolean> };
    cart: { productAdded(product: object): void; orderCompleted(order: object): void; snapshot(): { cart_id: string; products: { product_id: string }[] } };
  };
};

interface Row {
  event: string;
  anonymous_id: string;
  user_id: string;
  properties: string;
}
const rows = (where: string) => () => suite.collector.db.rows<Row>(`SELECT event, anonymous_id, user_id, properties FROM events WHERE ${where}`);

const freshContext = () => startAsFirstVisit(suite.browser.context, suite.collector);

const open = async (path: string, settings?: Record<string, unknown>) => (await openTestPage(suite.browser.context, suite.collector, { path, settings })).page;
const track = (page: Page, event: string) => page.evaluate((name) => (window as unknown as TabWindow).tagflow.track(name), event);
const flush = (page: Page) => page.evaluate(() => (window as unknown as TabWindow).tagflow.flush());
/** The identity in localStorage as this tab sees it. */
const storedIn = (page: Page) => page.evaluate(() => JSON.parse(localStorage.getItem('tf_id') ?? '{}') as { anonymousId?: string; userId?: string });
/** Waits until a change another tab stored has reached this tab (localStorage reaches each tab a little later). */
const reached = (page: Page, key: 'anonymousId' | 'userId', value: string | undefined) =>
  page.waitForFunction(([k, v]) => (JSON.parse(localStorage.getItem('tf_id') ?? '{}') as Record<string, unknown>)[k!] === v, [key, value] as const);

describe('identity with several open tabs', () => {
  it('a login in tab A is on tab B’s next event and in every tab opened after, whatever B stored', async () => {
    await freshContext();
    const a = await open('/test/login-a');
    const b = await open('/test/login-b');
    await a.evaluate(() => (window as unknown as TabWindow).tagflow.identify('alice', { plan: 'pro' }));
    await reached(b, 'userId', 'alice');
    await track(b, 'Tab B After Login');
    expect((await storedIn(b)).userId).toBe('alice'); // b's save kept the login
    const c = await open('/test/login-c');
    await track(c, 'Tab C After Login');
    const events = await waitUntil(rows("event IN ('Tab B After Login', 'Tab C After Login')"), (r) => r.length === 2);
    expect(events.map((e) => e.user_id)).toEqual(['alice', 'alice']);
  });

  it('a logout (reset) in tab A is not undone by tab B: both go on with the new anonymous id and no user', async () => {
    await freshContext();
    const a = await open('/test/logout-a');
    await a.evaluate(() => (window as unknown as TabWindow).tagflow.identify('bob'));
    const b = await open('/test/logout-b'); // loads bob's identity, and stores it again with its page view
    await reached(b, 'userId', 'bob');
    await a.evaluate(() => (window as unknown as TabWindow).tagflow.reset()); // "log out" on a shared computer
    const { anonymousId: fresh, userId } = await storedIn(a);
    expect(userId).toBeUndefined(); // b's earlier write did not bring bob back
    await reached(b, 'anonymousId', fresh);
    await track(b, 'Tab B After Logout');
    expect(await storedIn(b)).toEqual({ anonymousId: fresh, session: expect.any(Array), traits: {} });
    const c = await open('/test/logout-c');
    await track(c, 'Tab C After Logout');
    const events = await waitUntil(rows("event IN ('Tab B After Logout', 'Tab C After Logout')"), (r) => r.length === 2);
    expect(events.map((e) => [e.anonymous_id, e.user_id])).toEqual([
      [fresh, ''],
      [fresh, ''],
    ]);
  });

  it('consent granted in tab A (hold mode): once the tabs’ stored identities agree, both send with that one anonymous id', async () => {
    await freshContext();
    const hold = { consent: { mode: 'hold' } };
    const a = await open('/test/consent-a', hold);
    const b = await open('/test/consent-b', hold);
    await a.evaluate(() => (window as unknown as TabWindow).tagflow.consent.set({ analytics: true }));
    await b.waitForFunction(() => (window as unknown as TabWindow).tagflow.consent.get().analytics === true);
    // Both tabs were free to write once granted; wait until the browser's copy is the same in both.
    const [agreed] = await waitUntil(async () => [(await storedIn(a)).anonymousId, (await storedIn(b)).anonymousId], ([x, y]) => !!x && x === y);
    await track(a, 'Tab A After Grant');
    await track(b, 'Tab B After Grant');
    await flush(a);
    await flush(b);
    const events = await waitUntil(rows("event IN ('Tab A After Grant', 'Tab B After Grant')"), (r) => r.length === 2);
    expect(events.map((e) => e.anonymous_id)).toEqual([agreed, agreed]);
    // The page views each tab held before the grant carry it too: tab A saves its identity before the choice,
    // so tab B, applying the choice when it sees it saved, adopts that identity instead of writing its own.
    const views = await waitUntil(rows("type = 'page' AND page_path IN ('/test/consent-a', '/test/consent-b')"), (r) => r.length === 2);
    expect(views.map((v) => v.anonymous_id)).toEqual([agreed, agreed]);
  });
});

describe('cart snapshot with several open tabs', () => {
  it('keeps products added in two tabs, and an order completed in one is not the cart of the next Product Added in the other', async () => {
    await freshContext();
    const one = await open('/test/cart-1');
    const two = await open('/test/cart-2'); // e.g. two product pages opened from a list
    const products = (page: Page) => page.evaluate(() => (window as unknown as TabWindow).tagflow.cart.snapshot().products.map((p) => p.product_id));
    const cartId = (page: Page) => page.evaluate(() => (window as unknown as TabWindow).tagflow.cart.snapshot().cart_id);
    const storedCart = (page: Page, text: string) => page.waitForFunction((t) => (localStorage.getItem('tf_cart') ?? '').includes(t), text);

    await one.evaluate(() => (window as unknown as TabWindow).tagflow.cart.productAdded({ product_id: 'p1', price: 10 }));
    await storedCart(two, '"p1"');
    await two.evaluate(() => (window as unknown as TabWindow).tagflow.cart.productAdded({ product_id: 'p2', price: 20 }));
    await storedCart(one, '"p2"');
    expect({ one: await products(one), two: await products(two) }).toEqual({ one: ['p1', 'p2'], two: ['p1', 'p2'] });

    const completed = await cartId(one);
    await one.evaluate(() => (window as unknown as TabWindow).tagflow.cart.orderCompleted({ order_id: 'o-1', revenue: 30, products: [] }));
    const next = await cartId(one);
    await storedCart(two, `"${next}"`);
    await two.evaluate(() => (window as unknown as TabWindow).tagflow.cart.productAdded({ product_id: 'p3', price: 5 }));
    const [added] = await waitUntil(rows("event = 'Product Added' AND visitParamExtractString(properties, 'product_id') = 'p3'"), (r) => r.length === 1);
    const { cart_id } = JSON.parse(added!.properties) as { cart_id: string };
    expect(cart_id).not.toBe(completed);
    expect(cart_id).toBe(next);
  });
});

describe('campaign with several open tabs', () => {
  interface CampaignRow {
    type: string;
    event: string;
    session_id: string;
    campaign_source: string;
    campaign_medium: string;
    campaign_name: string;
    gclid: string;
  }
  const campaignRows = (where: string) => () =>
    suite.collector.db.rows<CampaignRow>(
      `SELECT type, event, session_id, campaign_source, campaign_medium, campaign_name, visitParamExtractString(context, 'gclid') AS gclid FROM events WHERE ${where} ORDER BY timestamp_ms`,
    );
  const campaignOf = (r: CampaignRow) => [r.campaign_source, r.campaign_medium, r.campaign_name, r.gclid];

  it('a visitor who landed from an ad has the campaign on a second tab’s events while the session lasts, and not after it', async () => {
    await freshContext();
    const first = await open('/test/campaign-landing?utm_source=ad-network&utm_medium=cpc&utm_campaign=spring&gclid=g-42');
    // Stored: the landing view was queued, so the tab has kept the session's campaign by then.
    const [landing] = await waitUntil(campaignRows("type = 'page' AND page_path = '/test/campaign-landing'"), (r) => r.length === 1);
    const campaign = ['ad-network', 'cpc', 'spring', 'g-42'];
    expect(campaignOf(landing!)).toEqual(campaign);

    const second = await open('/test/campaign-second'); // e.g. a product opened in a new tab: no utm in its URL
    await track(second, 'Second Tab Event');
    const got = await waitUntil(campaignRows("page_path = '/test/campaign-second'"), (r) => r.length === 2);
    expect(got.map((r) => r.session_id)).toEqual([landing!.session_id, landing!.session_id]); // the same session
    expect(got.map(campaignOf)).toEqual([campaign, campaign]);

    // The landing tab, left open 30 minutes without events (the session's last event moved back), moves
    // on to a page without campaign parameters: its next events start a new session, without the campaign.
    await first.evaluate(() => {
      const stored = JSON.parse(localStorage.getItem('tf_id') ?? '{}') as { session: [string, number] };
      stored.session[1] -= 31 * 60_000;
      localStorage.setItem('tf_id', JSON.stringify(stored));
      history.pushState(null, '', '/test/campaign-later');
    });
    await track(first, 'Next Session Event'); // the /test/campaign-later view is recorded before it
    const later = await waitUntil(campaignRows("page_path = '/test/campaign-later'"), (r) => r.length === 2);
    expect(later.map((r) => r.session_id === landing!.session_id)).toEqual([false, false]);
    expect(later.map(campaignOf)).toEqual([
      ['', '', '', ''],
      ['', '', '', ''],
    ]);
  });
});
