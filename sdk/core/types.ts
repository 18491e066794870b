// Public types of the SDK: the event envelope (Segment Spec) and the instance API.

export type EventType = 'track' | 'page' | 'identify' | 'alias' | 'group';

/** JSON-like bag of event properties or user traits. */
export type Properties = Record<string, unknown>;

/** `context` as the Segment Spec names it; plugins may add keys. */
export interface EventContext {
  library: { name: string; version: string };
  page?: { url: string; path: string; referrer: string; title: string; search: string };
  userAgent?: string;
  locale?: string;
  timezone?: string;
  screen?: { width: number; height: number; density: number };
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
  /** Send a batch once this many events are waiting (default 20). */
  batchSize?: number;
  /** Send what is waiting after this many milliseconds (default 1000). */
  flushInterval?: number;
  /** Log what the SDK does to the console. */
  debug?: boolean;
}

/** The object returned by {@link createTagflow}. */
export interface Tagflow {
  /** Records a named action, e.g. `track('Product Added', { product_id: 'p1' })`. */
  track(event: string, properties?: Properties): void;
  /** Records a page view of the current page. */
  page(name?: string, properties?: Properties): void;
  /** Ties this device to a known user and records their traits. */
  identify(userId?: string, traits?: Properties): void;
  /** Sends what is waiting now; resolves when the collector has answered. */
  flush(): Promise<void>;
}
