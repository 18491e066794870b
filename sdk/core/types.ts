// Public types of the SDK: the event envelope (Segment Spec) and the instance API.
import type { TagflowPlugin } from './plugin';

export type EventType = 'track' | 'page' | 'identify' | 'alias' | 'group';

/** JSON-like bag of event properties or user traits. */
export type Properties = Record<string, unknown>;

/** `context` as the Segment Spec names it; plugins may add keys (e.g. `consent`). */
export interface EventContext {
  library: { name: string; version: string };
  page?: { url: string; path: string; referrer: string; title: string; search: string };
  userAgent?: string;
  locale?: string;
  timezone?: string;
  screen?: { width: number; height: number; density: number };
  /** utm_* parameters of the current URL, without the `utm_` prefix (`name` for utm_campaign). */
  campaign?: Record<string, string>;
  /** Renewed after 30 minutes without events. */
  sessionId?: string;
  [key: string]: unknown;
}

/** One event as it is queued and sent. */
export interface TagflowEvent {
  type: EventType;
  messageId: string;
  anonymousId: string;
  userId?: string;
  event?: string;
  name?: string;
  groupId?: string;
  previousId?: string;
  properties?: Properties;
  traits?: Properties;
  timestamp: string;
  context: EventContext;
}

/** Options of {@link createTagflow}. */
export interface TagflowOptions {
  /** The source's write key, from the collector's configuration. */
  writeKey: string;
  /** The collector's base URL, e.g. `https://collect.example.com`. */
  endpoint: string;
  /** Send a batch once this many events are waiting, and at most this many per request (default 20). */
  batchSize?: number;
  /** At most this many bytes of events per request (default 60,000, inside the 64 KB keepalive budget). */
  batchBytes?: number;
  /** Send what is waiting after this many milliseconds (default 1000). */
  flushInterval?: number;
  /** Keep at most this many unsent events; the oldest are dropped and counted (default 10,000). */
  maxQueueEvents?: number;
  /** Drop unsent events older than this many milliseconds (default 7 days). */
  maxQueueAge?: number;
  /** Domain of the anonymous-id cookie, e.g. `.example.com` to share it across subdomains (default: this host). */
  cookieDomain?: string;
  /** Log what the SDK does to the console. */
  debug?: boolean;
}

/** Events the SDK gave up on, by reason; `debug: true` logs each. */
export interface DropCounts {
  /**
   * Over 32 KB once serialised, or not serialisable at all (a getter, toJSON or Proxy in the properties
   * threw; the debug message tells which): refused in the browser.
   */
  tooLarge: number;
  /** Past the queue caps (count or age): the oldest were dropped. */
  overCap: number;
  /** Refused by the collector (it keeps them in quarantine with the reason). */
  rejected: number;
}

/** The object returned by {@link createTagflow}. No method throws into the page. */
export interface Tagflow {
  /** Records a named action, e.g. `track('Product Added', { product_id: 'p1' })`. */
  track(event: string, properties?: Properties): void;
  /** Records a page view of the current page. */
  page(name?: string, properties?: Properties): void;
  /**
   * Ties this device to a known user (kept across reloads) and records their traits. The user id must be
   * one the collector takes: a string of at most 100 characters or a safe integer (sent as a string).
   * Another value (an object, `true`, a longer string, 12345678901234567891) is ignored with a debug
   * message naming it: the current user id stays and the traits are still recorded. Without a user id
   * (undefined, null or '') the traits are the current user's.
   */
  identify(userId?: string | number | null, traits?: Properties): void;
  /** As in Segment's analytics.js: a plain object first is the traits, recorded for the current user. */
  identify(traits: Properties): void;
  /**
   * Links the current identity (previousId) to `userId`, which becomes the user id. An id the collector
   * would refuse (see {@link Tagflow.identify}) is ignored with a debug message: nothing is sent and the
   * current user id stays.
   */
  alias(userId: string | number): void;
  /** Records that the user belongs to a group (company, account) with its traits. */
  group(groupId: string, traits?: Properties): void;
  /** Forgets the user id and traits and starts a new anonymous id and session. */
  reset(): void;
  /** Sends what is waiting now; resolves when the collector has answered (or a retry is scheduled). */
  flush(): Promise<void>;
  /** Adds a plugin; a second plugin of the same name is refused with a debug message. */
  use(plugin: TagflowPlugin): void;
  /** Counts of events given up on since the instance was created. */
  readonly dropped: Readonly<DropCounts>;
}
