// Automatic page views: one on load and one per SPA navigation (pushState, replaceState to a new URL,
// popstate; hash changes when enabled), never two in a row for one URL. A navigation's view is recorded
// a task later, with the title the router has set by then. Campaign parameters are kept for the Tagflow
// session (context.sessionId), in localStorage so the site's other tabs use them too, and put in every
// event's context.campaign; a new session starts without them. Erased when consent is withdrawn.
import { campaignOf } from '../core/context';
import type { PluginApi, TagflowPlugin } from '../core/plugin';
import { readJson, writeJson } from '../core/storage';
import type { TagflowEvent } from '../core/types';

type Campaign = Record<string, string>;
/** A campaign and the session it belongs to (none yet: the next event's), as kept in localStorage. */
type Kept = [sessionId: string | undefined, campaign: Campaign];

export interface PagePluginOptions {
  /** Count a change of the URL's #hash as a navigation (default false). */
  hash?: boolean;
}

const clickIds = ['gclid', 'yclid', 'fbclid'];
const campaignKey = 'tf_campaign';

/** Campaign data of a query string in Segment's `context.campaign` shape: the core's utm_* reading plus ad click ids. */
export function campaignFrom(search: string): Campaign | undefined {
  const params = new URLSearchParams(search);
  let campaign = campaignOf(params);
  for (const id of clickIds) {
    const value = params.get(id);
    if (value) (campaign ??= {})[id] = value;
  }
  return campaign;
}

/** The page plugin: `tagflow.use(pagePlugin())`. */
export function pagePlugin(options: PagePluginOptions = {}): TagflowPlugin {
  let api: PluginApi | undefined;
  let last: string | undefined;
  // messageIds of the views this plugin has processed: one that comes back (consent releasing the views
  // it held) is already complete, and must not count as a repeat or take the referrer of later views.
  const processed = new Set<string>();
  let referrer = document.referrer;
  // This tab's latest URL campaign: the session's when storage is blocked or the event may not store it.
  // Null once consent was withdrawn on this page: from then on only a stored campaign (written by events
  // that keep their identifiers, after a new grant) is carried, never one this tab re-read from its URL.
  let mine: Kept | undefined | null;
  // A navigation's view waits a task, for the router to set the new page's title; it is recorded sooner
  // when an event or another navigation comes first, so events stay in the order they happened. Either
  // way it carries the time of its navigation.
  let waiting: string | undefined; // that time, while the view waits
  let viewedAt: string | undefined; // that time, while the view is being queued
  const key = (url: string) => (options.hash ? url : url.split('#')[0]!);
  const view = () => {
    viewedAt = waiting;
    waiting = undefined; // first: events that other plugins emit meanwhile must not flush it again
    if (key(location.href) !== last) api?.tagflow.page();
    viewedAt = undefined;
  };
  const flush = () => {
    if (waiting) view();
  };
  const navigated = () => {
    waiting = new Date().toISOString();
    setTimeout(flush);
  };
  return {
    name: 'page',
    setup(a) {
      api = a;
      const restore: (() => void)[] = [];
      for (const method of ['pushState', 'replaceState'] as const) {
        const original = history[method];
        history[method] = function (this: History, ...args: Parameters<History['pushState']>) {
          flush(); // the page being left, with its title
          original.apply(this, args);
          navigated();
        };
        restore.push(() => (history[method] = original));
      }
      const events = options.hash ? ['popstate', 'hashchange'] : ['popstate'];
      for (const type of events) addEventListener(type, navigated);
      // A microtask later, so plugins added right after this one (consent, tags) see the first view,
      // and the snippet's own replayed page() counts as it.
      queueMicrotask(view);
      return () => {
        waiting = undefined;
        restore.forEach((undo) => undo());
        for (const type of events) removeEventListener(type, navigated);
      };
    },
    beforeQueue(event: TagflowEvent) {
      if (processed.has(event.messageId)) return event;
      const { context } = event;
      const page = context.page;
      if (event.type !== 'page') {
        flush(); // e.g. a track right after pushState: the new page's view comes first
      } else {
        waiting = undefined; // a view of the page now (the site's own page() call too) stands for a waiting one
        const url = key(page?.url ?? location.href);
        if (url === last) return null; // e.g. the snippet's own page() after ours
        last = url;
        processed.add(event.messageId);
        if (viewedAt) event.timestamp = viewedAt;
        if (page) page.referrer = referrer;
        event.properties = { ...page, url, referrer, ...event.properties };
        referrer = url;
      }
      // The event's own URL (for a call the snippet queued, the one it was made on) replaces the campaign;
      // otherwise the session's, as any tab stored it last, else as this tab found it. A campaign found
      // without a session id belongs to the first session that comes; another session's is not this one's,
      // and an event without one (consent stripped it) has no session to carry a campaign in.
      const sessionId = context.sessionId;
      const found = campaignFrom(page?.search ?? location.search);
      if (found && mine !== null) mine = [sessionId, found];
      else if (mine && mine[0] === undefined) mine[0] = sessionId;
      const ofSession = (kept: Kept | undefined | null) => (sessionId && kept?.[0] === sessionId ? kept[1] : undefined);
      context.campaign = found ?? ofSession(readJson<Kept>(campaignKey)) ?? ofSession(mine);
      return event;
    },
    erase() {
      // Consent withdrawn: the session's campaign goes; a URL's own still counts (it is in the address), but
      // only on that URL: the identity starts afresh in memory, and must not carry it past a navigation.
      writeJson(campaignKey, undefined);
      mine = null;
    },
    afterQueue({ context: { sessionId, campaign } }: TagflowEvent) {
      // Stored only while consent lets events keep their identifiers (cookieless strips the session id, held
      // events are not queued yet). Blocked storage: the campaign is this tab's only.
      if (campaign && sessionId) writeJson(campaignKey, [sessionId, campaign]);
    },
  };
}
