// The plugin contract. Page, cart, consent, vitals, feedback and tags are plugins, and so can be a
// user's own code. The core knows nothing of any plugin's events; plugins use only this API.
import type { Tagflow, TagflowEvent } from './types';

/**
 * What the core may do with events and identifiers. The consent plugin switches it; the default is
 * `{ persist: true, send: true }` when no plugin says otherwise.
 */
export interface DeliveryPolicy {
  /**
   * Write identifiers (cookie, localStorage) and queued events (IndexedDB). When false, the identity
   * and the queue live in memory only; switching it to true writes what is waiting.
   */
  persist: boolean;
  /** Send queued events to the collector. When false they wait (in memory when `persist` is false). */
  send: boolean;
}

/** Given to a plugin's `setup`. */
export interface PluginApi {
  /** The instance, for plugins that emit events (page views, cart events, vitals, surveys). */
  readonly tagflow: Tagflow;
  /** Logs with a `[tagflow]` prefix when the instance was created with `debug: true`; silent otherwise. */
  log(...args: unknown[]): void;
  /**
   * Puts an already built event in the queue, keeping its messageId and timestamp. `beforeQueue` hooks
   * of other plugins run on it; the calling plugin's own hook does not. An event built with this tab's
   * anonymous id from before the tab adopted the one another tab stored gets that one.
   */
  enqueue(event: TagflowEvent): void;
  /** Changes what the core may do; see {@link DeliveryPolicy}. */
  setPolicy(policy: Partial<DeliveryPolicy>): void;
  /** Drops every event that has not been sent yet (memory and IndexedDB). */
  clearQueue(): Promise<void>;
  /**
   * After consent is withdrawn: removes what identifies the visitor from the device, like clearing
   * cookies. Drops unsent events (as `clearQueue`), deletes the `tf_aid` cookie and the stored identity,
   * starts a new anonymous id (written only once persistence is allowed again) and runs every plugin's
   * `erase` hook for the keys it owns.
   */
  erase(): Promise<void>;
  /** Sets a key of every later event's `context` (e.g. `consent`), or removes it with `undefined`. */
  setContext(key: string, value: unknown): void;
}

/** A plugin: a name and any of the hooks. Hooks must not throw; the core guards them anyway. */
export interface TagflowPlugin {
  /** Unique name, used in debug messages and to refuse adding one plugin twice. */
  name: string;
  /** Called once by `tagflow.use(plugin)`; may return a function that undoes it. */
  setup?(api: PluginApi): void | (() => void);
  /**
   * Runs on every event before it is queued: return it (changed or not), or null to drop it (so does any
   * other falsy value but undefined). Returning nothing keeps it as it was; so does returning anything
   * else that is not an event (an object with a messageId), with a debug message naming the plugin.
   */
  beforeQueue?(event: TagflowEvent): TagflowEvent | null;
  /**
   * Runs after an event was queued: for plugins that react to events (tags, dataLayer forwarding). It may
   * see one messageId twice: consent in cookieless mode queues a stripped copy, then the whole event after
   * a grant.
   */
  afterQueue?(event: TagflowEvent): void;
  /** Called by {@link PluginApi.erase}: removes what this plugin stored on the device and forgets identifiers it holds. */
  erase?(): void;
}
