import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPluginHost, type PluginHost } from '../../test/support/plugin-host';
import { consentPlugin } from './consent/consent';
import type { TagflowPlugin } from '../core/plugin';
import { campaignFrom, pagePlugin } from './page';

let undo: (() => void) | undefined;
beforeEach(() => {
  sessionStorage.clear();
  localStorage.clear();
  history.replaceState(null, '', '/start?utm_source=news&utm_medium=email&utm_campaign=spring&gclid=g-1');
});
afterEach(() => {
  undo?.();
  undo = undefined;
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function start(options = {}, before?: TagflowPlugin) {
  const host = createPluginHost();
  host.context.sessionId = 'session-1'; // as the core sets it
  if (before) host.use(before);
  const plugin = pagePlugin(options);
  const setup = plugin.setup;
  plugin.setup = (api) => {
    const result = setup?.(api);
    undo = typeof result === 'function' ? result : undefined;
    return result;
  };
  host.use(plugin);
  return host;
}

const landingCampaign = { source: 'news', medium: 'email', name: 'spring', gclid: 'g-1' };
/** What tf_campaign holds: [sessionId, campaign], shared by the site's tabs. */
const stored = () => JSON.parse(localStorage.getItem('tf_campaign') ?? 'null') as unknown;
/** Each queued event as [event name or page path, its campaign]. */
const campaigns = (host: PluginHost) => host.queued.map((e) => [e.event ?? e.properties?.path, e.context.campaign]);

/**
 * Another tab of the site, opened on `path` while the first one stays open: its own sessionStorage and
 * page plugin, the shared localStorage, and the session the core reads from it (`sessionId`).
 */
async function secondTab(path: string, sessionId = 'session-1') {
  undo?.(); // the first tab's history hooks: only the new tab's view must follow the URL change
  sessionStorage.clear();
  history.replaceState(null, '', path);
  const host = start();
  host.context.sessionId = sessionId;
  await Promise.resolve(); // its first view
  host.tagflow.track('In Second Tab');
  return host;
}

describe('campaignFrom', () => {
  it('reads utm parameters and click ids in Segment campaign shape', () => {
    expect(campaignFrom('?utm_source=a&utm_campaign=b&utm_term=c&fbclid=f&yclid=y&other=1')).toEqual({ source: 'a', name: 'b', term: 'c', fbclid: 'f', yclid: 'y' });
    expect(campaignFrom('?q=1')).toBeUndefined();
  });
});

describe('campaign of the session', () => {
  it('is on every event across navigations, and in another tab of the same session', async () => {
    const host = start();
    await Promise.resolve();
    history.pushState(null, '', '/next');
    host.tagflow.track('Clicked'); // the /next view comes first
    expect(campaigns(host)).toEqual([
      ['/start', landingCampaign],
      ['/next', landingCampaign],
      ['Clicked', landingCampaign],
    ]);
    const other = await secondTab('/other');
    expect(campaigns(other)).toEqual([
      ['/other', landingCampaign],
      ['In Second Tab', landingCampaign],
    ]);
    expect(stored()).toEqual(['session-1', landingCampaign]); // kept with its session, for the tabs
  });

  it('is dropped when a new session starts, in this tab and in the others', async () => {
    const host = start();
    await Promise.resolve();
    host.context.sessionId = 'session-2'; // 30 minutes without events: the core starts a new session
    history.pushState(null, '', '/next');
    host.tagflow.track('Clicked');
    expect(campaigns(host)).toEqual([
      ['/start', landingCampaign],
      ['/next', undefined],
      ['Clicked', undefined],
    ]);
    const other = await secondTab('/other', 'session-2');
    expect(campaigns(other)).toEqual([
      ['/other', undefined],
      ['In Second Tab', undefined],
    ]);
  });

  it('is replaced by a URL with new campaign parameters, for every tab of the session', async () => {
    const host = start();
    await Promise.resolve();
    history.pushState(null, '', '/promo?utm_source=ad&fbclid=f-1');
    host.tagflow.track('Clicked');
    const promo = { source: 'ad', fbclid: 'f-1' };
    expect(campaigns(host).slice(1)).toEqual([
      ['/promo', promo],
      ['Clicked', promo],
    ]);
    expect(stored()).toEqual(['session-1', promo]);
    const other = await secondTab('/other');
    expect(campaigns(other)).toEqual([
      ['/other', promo],
      ['In Second Tab', promo],
    ]);
  });

  it('is erased when consent is withdrawn; a URL with campaign parameters still gives its own', async () => {
    const host = start();
    const consent = consentPlugin();
    host.use(consent);
    consent.set({ analytics: true });
    await Promise.resolve();
    expect(stored()).toEqual(['session-1', landingCampaign]);
    history.pushState(null, '', '/next'); // the campaign now comes from the session, not the URL
    consent.set({ analytics: false });
    expect(localStorage.getItem('tf_campaign')).toBeNull();
    consent.set({ analytics: true }); // the same session (the host keeps it): only the erase can have dropped it
    host.tagflow.track('After Erase');
    history.replaceState(null, '', '/ad?utm_source=ad');
    host.tagflow.track('On Ad URL');
    expect(campaigns(host).filter(([name]) => name === 'After Erase' || name === 'On Ad URL')).toEqual([
      ['After Erase', undefined],
      ['On Ad URL', { source: 'ad' }],
    ]);
  });

  it('after a denial (cookieless), the landing URL still gives its own but nothing carries it past a navigation', async () => {
    const host = start();
    const consent = consentPlugin({ mode: 'cookieless' });
    host.use(consent);
    await Promise.resolve();
    consent.set({ analytics: false, marketing: false, personalization: false }); // Reject all, on the landing URL
    history.pushState(null, '', '/next');
    host.tagflow.track('After Navigation'); // the navigation's view comes first
    expect(campaigns(host)).toEqual([
      ['/start', landingCampaign],
      ['Consent Updated', landingCampaign],
      ['/next', undefined],
      ['After Navigation', undefined],
    ]);
    expect(localStorage.getItem('tf_campaign')).toBeNull();
  });

  it('is carried by no event without a session id (consent, added before this plugin, stripped it)', async () => {
    const consent = consentPlugin({ mode: 'cookieless' });
    const host = start({}, consent);
    await Promise.resolve();
    consent.set({ analytics: false });
    history.pushState(null, '', '/next');
    host.tagflow.track('After Navigation');
    expect(campaigns(host).slice(-2)).toEqual([
      ['/next', undefined],
      ['After Navigation', undefined],
    ]);
  });

  it('is not stored while consent strips identifiers (cookieless), and is stored for the session after the grant', async () => {
    const host = start();
    const consent = consentPlugin({ mode: 'cookieless' });
    host.use(consent);
    await Promise.resolve();
    expect(host.queued[0]?.context.campaign).toEqual(landingCampaign);
    expect(host.queued[0]?.context.sessionId).toBeUndefined();
    expect(localStorage.getItem('tf_campaign')).toBeNull();
    expect(sessionStorage.getItem('tf_campaign')).toBeNull();
    consent.set({ analytics: true });
    expect(stored()).toEqual(['session-1', landingCampaign]);
  });

  it('is not stored while consent holds events, and is stored with them once released', async () => {
    const host = start();
    const consent = consentPlugin({ mode: 'hold' });
    host.use(consent);
    await Promise.resolve();
    history.pushState(null, '', '/next');
    host.tagflow.track('Clicked');
    expect(host.queued).toEqual([]);
    expect(localStorage.getItem('tf_campaign')).toBeNull();
    expect(sessionStorage.getItem('tf_campaign')).toBeNull();
    consent.set({ analytics: true });
    expect(campaigns(host).slice(0, 3)).toEqual([
      ['/start', landingCampaign],
      ['/next', landingCampaign],
      ['Clicked', landingCampaign],
    ]);
    expect(stored()).toEqual(['session-1', landingCampaign]);
  });

  it('is kept in the tab for its session when storage is blocked', async () => {
    vi.spyOn(Storage.prototype, 'getItem').mockImplementation(() => {
      throw new DOMException('blocked', 'SecurityError');
    });
    vi.spyOn(Storage.prototype, 'setItem').mockImplementation(() => {
      throw new DOMException('blocked', 'SecurityError');
    });
    const host = start();
    await Promise.resolve();
    history.pushState(null, '', '/next');
    host.tagflow.track('Clicked');
    host.context.sessionId = 'session-2';
    host.tagflow.track('Next Session');
    expect(campaigns(host)).toEqual([
      ['/start', landingCampaign],
      ['/next', landingCampaign],
      ['Clicked', landingCampaign],
      ['Next Session', undefined],
    ]);
  });

  it('found while consent, added before this plugin, strips session ids, belongs to the first session after the grant', async () => {
    const consent = consentPlugin({ mode: 'cookieless' });
    const host = start({}, consent);
    await Promise.resolve(); // the landing view, without a session id when this plugin sees it
    consent.set({ analytics: true });
    history.pushState(null, '', '/next');
    host.tagflow.track('Clicked');
    expect(campaigns(host).slice(-2)).toEqual([
      ['/next', landingCampaign],
      ['Clicked', landingCampaign],
    ]);
    expect(stored()).toEqual(['session-1', landingCampaign]);
  });
});

describe('page plugin', () => {
  it('sends a page view on load and one per new URL, none twice for one URL', async () => {
    const host = start();
    await Promise.resolve(); // the first view waits a microtask for the plugins added after this one
    history.pushState(null, '', '/a');
    history.pushState(null, '', '/b');
    history.replaceState(null, '', '/b');
    history.pushState(null, '', '/b#section');
    host.tagflow.page(); // e.g. the snippet's page() after the plugin's own
    history.pushState(null, '', '/c?x=1');
    await vi.waitFor(() => expect(host.queued.map((e) => e.properties?.path)).toEqual(['/start', '/a', '/b', '/c'])); // a task later
    host.use({ name: 'replay', setup: (api) => api.enqueue(host.queued[3]!) }); // e.g. consent releasing a held view
    expect(host.queued).toHaveLength(5);
    expect(host.queued[3]?.properties).toMatchObject({ url: `${location.origin}/c?x=1`, search: '?x=1', referrer: `${location.origin}/b` });
  });

  it('counts hash changes only when asked', async () => {
    const host = start({ hash: true });
    await Promise.resolve();
    history.pushState(null, '', '/start#two');
    await vi.waitFor(() => expect(host.queued).toHaveLength(2));
  });

  it('lets views it already processed through untouched when they come back (consent releasing what it held)', async () => {
    const landing = location.href;
    const host = start();
    await Promise.resolve();
    history.pushState(null, '', '/b');
    history.pushState(null, '', landing); // back on the landing URL: the last view is the twin of the first
    await vi.waitFor(() => expect(host.names('page')).toHaveLength(3));
    const views = host.queued.map((e) => structuredClone(e));
    host.use({ name: 'release', setup: (api) => views.forEach((view) => api.enqueue(view)) });
    expect(host.queued.slice(3)).toEqual(views); // none dropped as a repeat, none given a later referrer
    expect(views.map((e) => [e.properties?.path, e.context.page?.referrer])).toEqual([
      ['/start', document.referrer],
      ['/b', landing],
      ['/start', `${location.origin}/b`],
    ]);
  });

  it("records a navigation's view a task later, with the title the router set meanwhile", async () => {
    const host = start();
    await Promise.resolve();
    document.title = 'Home';
    history.pushState(null, '', '/product');
    await Promise.resolve().then(() => (document.title = 'Product P1')); // routers set it after pushState
    expect(host.queued).toHaveLength(1);
    await vi.waitFor(() => expect(host.queued).toHaveLength(2));
    expect(host.queued[1]?.properties).toMatchObject({ path: '/product', title: 'Product P1' });
    expect(host.queued[1]?.context.page?.title).toBe('Product P1');
  });

  it('records a waiting view before an event tracked right after the navigation, with the time of the navigation', async () => {
    const host = start();
    await Promise.resolve();
    vi.useFakeTimers({ toFake: ['Date'] }); // the clock only: the view's timer stays real
    vi.setSystemTime(Date.parse('2024-05-01T10:00:00.000Z'));
    history.pushState(null, '', '/next');
    vi.setSystemTime(Date.parse('2024-05-01T10:00:00.005Z'));
    host.tagflow.track('Clicked');
    vi.useRealTimers();
    expect(host.queued.map((e) => [e.event ?? e.properties?.path, e.timestamp])).toEqual([
      ['/start', expect.any(String)],
      ['/next', '2024-05-01T10:00:00.000Z'],
      ['Clicked', '2024-05-01T10:00:00.005Z'],
    ]);
    history.pushState(null, '', '/other'); // a later navigation's view waits again
    await vi.waitFor(() => expect(host.names('page')).toHaveLength(3));
    expect(host.queued.map((e) => e.event ?? e.properties?.path)).toEqual(['/start', '/next', 'Clicked', '/other']);
  });

  it("takes the site's own page() call right after a navigation as that navigation's view, not a second one", async () => {
    const landing = location.href;
    const host = start();
    await Promise.resolve();
    history.pushState(null, '', '/named');
    host.tagflow.page('Named Page', { section: 'shop' });
    history.pushState(null, '', '/after'); // its view waits a task: once it is there, the /named one would be too
    await vi.waitFor(() => expect(host.names('page')).toHaveLength(3));
    expect(host.queued.map((e) => [e.properties?.path, e.name])).toEqual([
      ['/start', undefined],
      ['/named', 'Named Page'],
      ['/after', undefined],
    ]);
    expect(host.queued[1]?.properties).toMatchObject({ section: 'shop', referrer: landing });
  });

  it('follows the URL a queued call was made on (snippet replay): its view and campaign first, then the current URL', async () => {
    history.replaceState(null, '', '/product');
    const host = start();
    // The snippet's page(), recorded on the landing URL and replayed before the plugin's first view.
    const landing = `${location.origin}/list?utm_source=ad&gclid=g-2`;
    const page = { url: landing, path: '/list', search: '?utm_source=ad&gclid=g-2', title: 'List', referrer: '' };
    host.use({
      name: 'replay',
      setup: (api) =>
        api.enqueue({ type: 'page', messageId: 'm-replayed', anonymousId: 'anon-1', timestamp: new Date().toISOString(), context: { library: { name: 'tagflow', version: 'test' }, page } }),
    });
    host.tagflow.track('Product Clicked');
    await vi.waitFor(() => expect(host.queued).toHaveLength(3));
    const campaign = { source: 'ad', gclid: 'g-2' };
    expect(host.queued.map((e) => [e.event ?? e.properties?.path, e.context.campaign])).toEqual([
      ['/list', campaign],
      ['Product Clicked', campaign],
      ['/product', campaign],
    ]);
    expect(host.queued[2]?.properties?.referrer).toBe(landing);
  });
});
