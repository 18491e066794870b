// What the browser tells us about where an event happened: the `context` of the Segment Spec.
import type { EventContext } from './types';

export const libraryName = 'tagflow';
export const libraryVersion = '0.1.0';

export function pageContext(): NonNullable<EventContext['page']> {
  return {
    url: location.href,
    path: location.pathname,
    referrer: document.referrer,
    title: document.title,
    search: location.search,
  };
}

export function browserContext(): EventContext {
  return {
    library: { name: libraryName, version: libraryVersion },
    page: pageContext(),
    userAgent: navigator.userAgent,
    locale: navigator.language,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    screen: { width: screen.width, height: screen.height, density: devicePixelRatio },
  };
}
