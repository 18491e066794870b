// A visitor who lands cookieless and then accepts keeps their landing page, end to end: real Chromium
// (full build, consent banner), the real collector (its `strip` policy), ClickHouse and the identity job.
// What went out before the grant was stripped (no anonymous id, no session); the consent plugin sends the
// same events again, with the same messageIds and the grant, and the warehouse keeps that delivery only.
import { describe, expect, it } from 'vitest';
import { runIdentityJob } from '../../collector/warehouse/identity/job';
import { desktopChrome } from '../support/browser';
import { browserSuite } from '../support/browser-suite';
import { waitUntil } from '../support/clickhouse';
import { openTestPage, startAsFirstVisit } from '../support/test-page';

// A shopper's browser: headless Chromium's own user agent is a bot's, whose events are in no person-level view.
const suite = browserSuite({}, { userAgent: desktopChrome });

interface EventRow {
  message_id: string;
  type: string;
  event: string;
  anonymous_id: string;
}
const deliveries = (path: string) => () =>
  suite.collector.db.rows<EventRow>(`SELECT message_id, type, event, anonymous_id FROM events WHERE page_path = '${path}' ORDER BY timestamp_ms, batch_position`);

type TagflowWindow = Window & { tagflow: { track(e: string, p?: object): void } };

describe('a cookieless landing, then Accept all', () => {
  // With the job run in between, the stripped rows are stored (as `event:<messageId>` persons) before the
  // grant's delivery arrives, in other buckets of person_events than the visitor's: they must be replaced.
  it.each([
    ['once, at the end', false],
    ['also before the grant', true],
  ])('the landing page and its campaign belong to the visitor (identity job run %s)', async (_, runBetween) => {
    await startAsFirstVisit(suite.browser.context, suite.collector);
    const landing = runBetween ? '/test/landing-between' : '/test/landing';
    const next = `${landing}-next`;
    const { page } = await openTestPage(suite.browser.context, suite.collector, {
      path: `${landing}?utm_source=newsletter&utm_medium=email`,
      settings: { consent: { mode: 'cookieless', banner: true }, vitals: false }, // no Web Vitals at the navigation
    });
    await page.evaluate(() => (window as unknown as TagflowWindow).tagflow.track('Landing Click'));
    // What the audit saw: both went out before the grant, stripped by the collector.
    const stripped = await waitUntil(deliveries(landing), (r) => r.length === 2);
    expect(stripped.map((r) => [r.type, r.anonymous_id])).toEqual([['page', ''], ['track', '']]);
    const ids = stripped.map((r) => r.message_id);
    if (runBetween) await runIdentityJob(suite.collector.db.client);

    await page.getByRole('button', { name: 'Accept all' }).click();
    await page.goto(`${suite.collector.url}${next}`);
    const [view] = await waitUntil(deliveries(next), (r) => r.some((row) => row.anonymous_id !== ''));
    const visitor = view!.anonymous_id;
    // The same messages again, now with the visitor's anonymous id, and Consent Updated (each perhaps more than
    // once: the page-hide beacon at the navigation goes on top of the batch the grant sent).
    const identified = (r: EventRow[]) => new Set(r.filter((row) => row.anonymous_id === visitor).map((row) => row.message_id));
    await waitUntil(deliveries(landing), (r) => identified(r).size === 3 && ids.every((id) => identified(r).has(id)));
    await runIdentityJob(suite.collector.db.client);

    const person = `anon:${visitor}`;
    const one = async <T>(query: string) => (await suite.collector.db.rows<T>(query))[0];
    expect(await one(`SELECT landing_page, exit_page, traffic_source, events FROM sessions WHERE person_id = '${person}'`)).toEqual({
      landing_page: landing,
      exit_page: next,
      traffic_source: 'newsletter',
      events: 4, // the landing view, Landing Click, Consent Updated, the next view
    });
    expect(await one(`SELECT page_views, first_touch_source, first_touch_medium FROM profiles WHERE person_id = '${person}'`)).toEqual({
      page_views: 2,
      first_touch_source: 'newsletter',
      first_touch_medium: 'email',
    });
    expect(await one(`SELECT steps FROM session_paths WHERE person_id = '${person}'`)).toEqual({
      steps: [`page ${landing}`, 'Landing Click', 'Consent Updated', `page ${next}`],
    });
    // Each landing message once, the visitor's: no stripped copy left over as a person of its own.
    const list = ids.map((id) => `'${id}'`).join(', ');
    expect(await suite.collector.db.rows(`SELECT person_id, count() AS n FROM person_events WHERE message_id IN (${list}) GROUP BY person_id`)).toEqual([
      { person_id: person, n: 2 },
    ]);
    expect(await suite.collector.db.rows(`SELECT anonymous_id, session_id != '' AS has_session FROM events_dedup WHERE message_id IN (${list})`)).toEqual([
      { anonymous_id: visitor, has_session: 1 },
      { anonymous_id: visitor, has_session: 1 },
    ]);
    await page.close();
  });
});
