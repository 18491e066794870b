// What the browser tells us about where an event happened: the `context` of the Segment Spec.
import type { EventContext } from './types';

export const libraryName = 'tagflow';
export const libraryVersion = '0.1.0';

/** utm_* parameters of a query string, named as the Segment Spec does (utm_campaign is `name`). */
export function campaignOf(search: string): Record<string, string> | undefined {
  let campaign: Record<string, string> | undefined;
  for (const [key, value] of new URLSearchParams(search)) {
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

/** The full context of an event happening now. */
export function browserContext(base: EventContext): EventContext {
  const { href: url, pathname: path, search } = location;
  return { ...base, page: { url, path, referrer: document.referrer, title: document.title, search }, campaign: campaignOf(search) };
}
