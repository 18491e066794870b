// Automatic page views: one on load and one per SPA navigation (pushState, replaceState to a new URL,
// popstate; hash changes when enabled), never two in a row for one URL. A navigation's view is recorded
// a task later, with the title the router has set by then. Campaign parameters are kept for the session
// (erased when consent is withdrawn) and put in every event's context.campaign.
import { campaignOf } from '../core/context';
import type { PluginApi, TagflowPlugin } from '../core/plugin';
import { readJson, writeJson } from '../core/storage';
import type { TagflowEvent } from '../core/types';

export interface PagePluginOptions {
  /** Count a change of the URL's #hash as a navigation (default false). */
  hash?: boolean;
}

const clickIds = ['gclid', 'yclid', 'fbclid'];
const campaignKey = 'tf_campaign';

/** Campaign data of a query string in Segment's `context.campaign` shape: the core's utm_* reading plus ad click ids. */
export function campaignFrom(search: string): Record<string, string> | undefined {
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
  let campaign: Record<string, string> | undefined;
  // A navigation's view waits a task, for the router to set the new page's title; it is recorded sooner
  // when an event or another navigation comes first, so events stay in the order they happened. Either
  // way it carries the time of its navigation.
  let waiting: string | undefined; // that time, while the view waits
  let viewedAt: string | undefined; // that time, while the view is being queued
  const key = (url: string) => (options.hash ? url : url.split('#')[0]!);
  const setCampaign = (found: Record<string, string> | undefined) => {
    if (found) api?.setContext('campaign', (campaign = found));
  };
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
      setCampaign(campaignFrom(location.search) ?? readJson(campaignKey, true));
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
      if (event.type !== 'page') {
        flush(); // e.g. a track right after pushState: the new page's view comes first
        return event;
      }
      waiting = undefined; // a view of the page now (the site's own page() call too) stands for a waiting one
      const page = event.context.page;
      const url = key(page?.url ?? location.href);
      if (url === last) return null; // e.g. the snippet's own page() after ours
      last = url;
      processed.add(event.messageId);
      if (viewedAt) event.timestamp = viewedAt;
      if (page) page.referrer = referrer;
      // The viewed page's campaign (for a call the snippet queued, that of the URL it was made on).
      setCampaign(campaignFrom(page?.search ?? location.search));
      event.context.campaign = campaign;
      event.properties = { url, path: page?.path, search: page?.search, title: page?.title, referrer, ...event.properties };
      referrer = url;
      return event;
    },
    erase() {
      // Consent withdrawn: the campaign kept for the session goes; the current URL's stays (it is in the address).
      writeJson(campaignKey, undefined, true);
      api?.setContext('campaign', (campaign = campaignFrom(location.search)));
    },
    afterQueue(event: TagflowEvent) {
      // Saved only while consent lets events keep their identifiers (cookieless strips the session id).
      // Blocked storage: the campaign is kept for this page only.
      if (campaign && event.context.sessionId) writeJson(campaignKey, campaign, true);
    },
  };
}
