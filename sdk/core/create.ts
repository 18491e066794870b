// createTagflow: the instance. It turns calls into Segment Spec events, runs the plugins' hooks,
// refuses what cannot be sent, and hands the rest to the dispatcher. Nothing here throws into the page.
import { browserContext, staticContext } from './context';
import { createDispatcher } from './dispatcher';
import { buildEvent, type EventFields } from './envelope';
import { loadIdentity, validUserId } from './identity';
import { resolveOptions } from './options';
import type { DeliveryPolicy, PluginApi, TagflowPlugin } from './plugin';
import { byteLength, safeJson } from './safe-json';
import type { DropCounts, EventType, Properties, Tagflow, TagflowEvent, TagflowOptions } from './types';

/** The collector's (and Segment's) limit for one event. */
export const maxEventBytes = 32 * 1024;

/**
 * Creates a Tagflow instance.
 * @throws TagflowOptionsError when the write key is missing, the endpoint is not an http(s) URL or a
 * numeric option is not a positive number: the one place where the SDK throws.
 */
export function createTagflow(options: TagflowOptions): Tagflow {
  const settings = resolveOptions(options);
  const log = (...args: unknown[]) => settings.debug && console.log('[tagflow]', ...args);
  const policy: DeliveryPolicy = { persist: true, send: true };
  const dropped: DropCounts = { tooLarge: 0, overCap: 0, rejected: 0 };
  const identity = loadIdentity(settings.cookieDomain);
  const dispatcher = createDispatcher(settings, policy, dropped, log);
  const base = staticContext();
  const extraContext: Record<string, unknown> = {};
  const plugins: TagflowPlugin[] = [];
  /** A save is due at the next microtask. */
  let saving: Promise<void> | undefined;
  // Events queued in one ms would leave IndexedDB (keys [t, messageId]) in messageId order, a random one:
  // each event's t gets a thousandth of a ms more than the previous, so they leave in the order tracked.
  let queued = 0;

  /** Runs page-facing code: logs instead of throwing. */
  const guard = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (error) {
      log(error); // an Error names itself
    }
  };

  // Writes happen a microtask later, so a consent plugin added right after createTagflow (or replayed
  // from the snippet) decides before anything touches the device.
  const saveSoon = () =>
    (saving ??= Promise.resolve().then(() => {
      saving = undefined;
      if (policy.persist) identity.save();
      void dispatcher.write();
    }));

  const queueEvent = (event: TagflowEvent, from?: TagflowPlugin) => {
    let current: TagflowEvent | null = event;
    for (const plugin of plugins) {
      if (current && plugin != from) {
        const next: unknown = guard(() => plugin.beforeQueue?.(current!));
        // undefined: no hook, or it threw, and the event stays as it was. null (any falsy value) drops it.
        // An event (changed or not) replaces it. Anything else (true, a number) is no event: the event is
        // kept, as a value without a messageId has no IndexedDB key and its failed write would move the queue
        // to memory.
        if (next === undefined) continue;
        if (!next) current = null;
        else if ((next as TagflowEvent).messageId) current = next as TagflowEvent;
        else log(plugin.name, 'beforeQueue returned', next);
      }
    }
    if (!current) return log('plugin dropped', event);
    const json = safeJson(current) ?? '';
    const bytes = byteLength(json);
    if (!json || bytes > maxEventBytes) {
      dropped.tooLarge++; // not serialisable counts here too: refused before queueing, as one too large
      return log(json ? 'over 32 KB' : 'cannot be serialised', current);
    }
    dispatcher.push({ t: Date.now() + ++queued / 1e3, id: current.messageId, s: json, b: bytes });
    saveSoon();
    log('queued', current);
    for (const plugin of plugins) guard(() => plugin.afterQueue?.(current!));
  };

  const record = (type: EventType, fields: EventFields) =>
    guard(() => queueEvent(buildEvent(type, fields, identity, { ...browserContext(base), ...extraContext, sessionId: identity.session() })));

  const instance: Tagflow = {
    // Missing names and ids are the collector's to refuse: it says why (logged with debug) and keeps them in quarantine.
    track: (event, properties) => record('track', { event, properties }),
    page: (name, properties) => record('page', { name, properties }),
    identify(userId?: unknown, traits?: Properties) {
      if (userId && typeof userId == 'object') (traits = userId as Properties), (userId = undefined); // identify(traits), as in Segment
      guard(() => identity.setUser(userId, traits)); // traits with a throwing getter must not reach the page
      // '' and undefined are no id; another value setUser kept out is logged (a valid number became a
      // string, equal to it for !=).
      if ((userId ?? '') !== '' && userId != identity.userId) log('invalid userId:', userId);
      record('identify', { traits });
    },
    alias(userId) {
      // An alias to an id the collector refuses (or to none) would only be quarantined.
      if (!validUserId(userId)) return log('invalid userId:', userId);
      record('alias', { previousId: identity.setUser(userId) });
    },
    group: (groupId, traits) => record('group', { groupId, traits }),
    reset: () => (identity.reset(), saveSoon()),
    flush: dispatcher.flush, // the dispatcher's methods are closures: no `this`
    use(plugin) {
      if (!plugin?.name || plugins.some((p) => p.name == plugin.name)) return log('plugin refused:', plugin);
      plugins.push(plugin);
      const api: PluginApi = {
        tagflow: instance,
        log,
        // An event a plugin held was built earlier, perhaps with this tab's id from before it adopted the device's.
        enqueue: (event) => guard(() => queueEvent(identity.latest(event), plugin)),
        setPolicy(next) {
          Object.assign(policy, next);
          if (policy.persist) identity.save();
          void dispatcher.policyChanged();
        },
        clearQueue: dispatcher.clear,
        erase: () => (identity.erase(), plugins.map((other) => guard(() => other.erase?.())), dispatcher.clear()),
        // An undefined value disappears when the event is made JSON-safe.
        setContext: (key, value) => (extraContext[key] = value),
      };
      guard(() => plugin.setup?.(api));
    },
    dropped,
  };
  return instance;
}
