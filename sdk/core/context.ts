// What the browser tells us about where an event happened: the `context` of the Segment Spec.
import type { EventContext } from './types';

export const libraryName = 'tagflow';
export const libraryVersion = '0.1.0';

/** utm_* parameters of a query, named as the Segment Spec does (utm_campaign is `name`). */
export function campaignOf(params: URLSearchParams): Record<string, string> | undefined {
  let campaign: Record<string, string> | undefined;
  for (const [key, value] of params) {
    if (key.startsWith('utm_')) (campaign ??= {})[key == 'utm_campaign' ? 'name' : key.slice(4)] = value;
  }
  return campaign;
}

/** The parts that do not change while the page lives, computed once (Intl is slow on the hot path). */
export function staticContext(): EventContext {
  return {
    library: { name: libraryName, version: libraryVersion },
    userAgent: navigator.userAgent,
    locale: navigator.language,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    screen: { width: screen.width, height: screen.height, density: devicePixelRatio },
  };
}

/** Where the page was when a call the snippet queued was made (sdk/snippet/stub.ts); set while it is replayed. */
let madeAt: { href?: string; title?: string } | undefined;
export const replaying = (call?: typeof madeAt) => (madeAt = call);

/**
 * The full context of an event happening now, or of the queued call being replayed: an app may have
 * routed to another URL before the SDK loaded. An empty recorded title most likely means the snippet ran
 * above <title>: the title now is the better guess. The referrer cannot change without a new document.
 */
export function browserContext(base: EventContext): EventContext {
  const at = new URL(madeAt?.href || location.href);
  return { ...base, page: { url: at.href, path: at.pathname, referrer: document.referrer, title: madeAt?.title || document.title, search: at.search }, campaign: campaignOf(at.searchParams) };
}
