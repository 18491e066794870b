import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPluginHost } from '../../test/support/plugin-host';
import { consentPlugin } from './consent/consent';
import { campaignFrom, pagePlugin } from './page';

let undo: (() => void) | undefined;
beforeEach(() => {
  sessionStorage.clear();
  history.replaceState(null, '', '/start?utm_source=news&utm_medium=email&utm_campaign=spring&gclid=g-1');
});
afterEach(() => {
  undo?.();
  vi.useRealTimers();
});

function start(options = {}) {
  const host = createPluginHost();
  host.context.sessionId = 'session-1'; // as the core sets it
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

describe('campaignFrom', () => {
  it('reads utm parameters and click ids in Segment campaign shape', () => {
    expect(campaignFrom('?utm_source=a&utm_campaign=b&utm_term=c&fbclid=f&yclid=y&other=1')).toEqual({ source: 'a', name: 'b', term: 'c', fbclid: 'f', yclid: 'y' });
    expect(campaignFrom('?q=1')).toBeUndefined();
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

  it('keeps the campaign for the session, across navigations', async () => {
    const host = start();
    await Promise.resolve();
    history.pushState(null, '', '/next');
    const campaign = { source: 'news', medium: 'email', name: 'spring', gclid: 'g-1' };
    expect(host.context.campaign).toEqual(campaign);
    expect(JSON.parse(sessionStorage.getItem('tf_campaign') ?? '{}')).toEqual(campaign);
  });

  it('saves no campaign (click ids) for the session while consent strips identifiers, and saves it after the grant', async () => {
    const host = start();
    const consent = consentPlugin({ mode: 'cookieless' });
    host.use(consent);
    await Promise.resolve();
    expect(host.queued[0]?.context.campaign).toMatchObject({ gclid: 'g-1' });
    expect(sessionStorage.getItem('tf_campaign')).toBeNull();
    consent.set({ analytics: true });
    expect(JSON.parse(sessionStorage.getItem('tf_campaign') ?? '{}')).toMatchObject({ gclid: 'g-1' });
  });

  it('erases the session\'s campaign when consent is withdrawn, keeping only what the current URL says', async () => {
    const host = start();
    const consent = consentPlugin();
    host.use(consent);
    consent.set({ analytics: true });
    await Promise.resolve();
    expect(sessionStorage.getItem('tf_campaign')).not.toBeNull();
    history.pushState(null, '', '/next'); // the campaign now comes from the session, not the URL
    consent.set({ analytics: false });
    expect(sessionStorage.getItem('tf_campaign')).toBeNull();
    expect(host.context).not.toHaveProperty('campaign');
    history.replaceState(null, '', '/ad?utm_source=ad');
    consent.set({ analytics: true });
    consent.set({ analytics: false });
    expect(host.context.campaign).toEqual({ source: 'ad' });
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
