// Page views for a single-page app, Web Vitals at page hide and survey answers, in real Chromium
// through the full build, a real collector and ClickHouse.
import { describe, expect, it } from 'vitest';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { openTestPage } from '../support/test-page';

const suite = browserSuite();

interface Row {
  type: string;
  event: string;
  page_path: string;
  page_referrer: string;
  properties: string;
  campaign_source: string;
}
const rows = (where: string) => () =>
  suite.collector.db.rows<Row>(`SELECT type, event, page_path, page_referrer, properties, campaign_source FROM events WHERE ${where} ORDER BY timestamp_ms`);

type TagflowWindow = Window & { tagflow: { track(e: string): void; page(): void; feedback: { nps(s: number, c?: string): boolean; ces(s: number): boolean } } };

describe('page plugin in Chromium', () => {
  it('gives one page view on load and one per pushState navigation, none twice for one URL', async () => {
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/spa?utm_source=newsletter&utm_campaign=spring' });
    await page.evaluate(() => {
      history.pushState(null, '', '/test/a');
      history.pushState(null, '', '/test/b');
      history.replaceState(null, '', '/test/b'); // same URL: no page view
      (window as unknown as TagflowWindow).tagflow.page(); // same URL again
      history.pushState(null, '', '/test/c');
      (window as unknown as TagflowWindow).tagflow.track('Marker');
    });
    // The marker is tracked after every navigation: once it is stored, every page view before it is too.
    await waitUntil(rows("event = 'Marker'"), (r) => r.length === 1);
    const views = await rows("type = 'page'")();
    // Navigations of one millisecond tie in timestamp_ms, so compare without order.
    expect(views.map((v) => v.page_path).sort()).toEqual(['/test/a', '/test/b', '/test/c', '/test/spa']);
    expect(views.find((v) => v.page_path === '/test/b')?.page_referrer).toBe(`${suite.collector.url}/test/a`);
    // The campaign of the landing URL is kept for the session, on every later event.
    expect(views.map((v) => v.campaign_source)).toEqual(['newsletter', 'newsletter', 'newsletter', 'newsletter']);
    await page.close();
  });
});

describe('vitals plugin in Chromium', () => {
  it('sends one Web Vitals event when the page is hidden', async () => {
    const { page } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/vitals' });
    // An interaction slow enough for INP (web-vitals leaves out those under 40 ms): its handler blocks 120 ms.
    await page.evaluate(() =>
      document.querySelector('h1')!.addEventListener('click', () => {
        const until = performance.now() + 120;
        while (performance.now() < until);
      }),
    );
    await page.click('h1');
    // The browser reports the interaction after its next frame; leave once it has.
    await page.evaluate(
      () =>
        new Promise<void>((resolve) =>
          new PerformanceObserver((list) => {
            if (list.getEntries().some((e) => (e as PerformanceEventTiming).interactionId > 0)) resolve();
          }).observe({ type: 'event', buffered: true, durationThreshold: 16 } as PerformanceObserverInit),
        ),
    );
    await page.evaluate(() => history.pushState(null, '', '/test/vitals/next')); // an SPA route change
    await page.goto('about:blank'); // navigating away hides the page
    const [vitals, ...more] = await waitUntil(rows("event = 'Web Vitals' AND page_path = '/test/vitals/next'"), (r) => r.length >= 1);
    const properties = JSON.parse(vitals!.properties) as Record<string, unknown>;
    expect(properties.path).toBe('/test/vitals'); // the load's path: LCP, FCP and TTFB describe that page
    expect(properties.ttfb).toEqual(expect.any(Number));
    expect(properties.fcp).toEqual(expect.any(Number));
    expect(properties.ttfb_rating).toMatch(/^(good|needs-improvement|poor)$/);
    // The click's INP: web-vitals reports it at the latest when the page is hidden, before the plugin reads it.
    expect(properties.inp).toBeGreaterThanOrEqual(100);
    expect(more).toEqual([]); // one per page view
    await page.close();
  });
});

describe('feedback plugin in Chromium', () => {
  it('stores survey answers for NPS and refuses out-of-range scores with a debug message', async () => {
    const { page, console } = await openTestPage(suite.browser.context, suite.collector, { path: '/test/survey' });
    const accepted = await page.evaluate(() => {
      const { tagflow } = window as unknown as TagflowWindow;
      const results = [tagflow.feedback.nps(9, 'fast delivery'), tagflow.feedback.nps(11), tagflow.feedback.ces(0)];
      tagflow.track('Survey Marker');
      return results;
    });
    expect(accepted).toEqual([true, false, false]);
    await waitUntil(rows("event = 'Survey Marker'"), (r) => r.length === 1);
    const answers = await rows("event = 'Survey Responded'")();
    expect(answers.map((a) => JSON.parse(a.properties) as unknown)).toEqual([
      expect.objectContaining({ survey_type: 'nps', score: 9, scale_min: 0, scale_max: 10, comment: 'fast delivery', path: '/test/survey' }),
    ]);
    expect(console.some((line) => line.includes('nps score must be a whole number from 0 to 10, got 11'))).toBe(true);
    await page.close();
  });
});
