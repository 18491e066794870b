// The consent manager. Until analytics is granted, events either wait in this plugin's memory (never in
// IndexedDB, never on the wire) or go out cookieless, as configured; after a denial nothing that
// identifies the visitor leaves the browser, and what the SDK stored about the visitor is erased
// (api.erase: the core's identity and queue, each plugin's own keys). Every event carries the state in
// context.consent.
// Held events are replayed through `api.enqueue` with the state at release time, so the collector's
// server-side consent policy sees the grant, not the undecided default they were recorded under. In
// cookieless mode an undecided visitor's events are held whole as well as sent stripped: a grant sends them
// again with their ids (same messageIds; the warehouse keeps a message's newest delivery), so the landing
// page, its campaign and the events before the grant belong to the visitor who accepted.
import type { PluginApi, TagflowPlugin } from '../../core/plugin';
import type { TagflowEvent } from '../../core/types';
import { readJson, writeJson } from '../../core/storage';
import { uuid } from '../../core/uuid';
import { watchDataLayer } from '../datalayer';
import { consentModeSignal } from './gcm';
import { defaultPurposes, type Preferences } from './purposes';
import { defaultTcfMapping, purposesFromTcf, type TcData, type TcfMapping } from './tcf';

export type { Preferences } from './purposes';

export interface ConsentOptions {
  /** Purposes the visitor can choose (default necessary, analytics, marketing, personalization). */
  purposes?: string[];
  /** State before the visitor decides (default: only `necessary` granted). */
  defaults?: Preferences;
  /**
   * Before analytics is granted (and after it is denied): `hold` keeps events in memory and sends
   * nothing (default); `cookieless` sends them without identifiers (a per-page id, no user id or traits).
   * Until the visitor decides, `cookieless` also keeps each event whole in memory (this page only, up to
   * `maxHeld`): a grant sends those again with their identifiers and the same messageIds (identify, alias
   * and group too, never sent stripped), a denial drops them.
   */
  mode?: 'hold' | 'cookieless';
  /**
   * How TCF v2.2 purposes map onto ours, or false to ignore a CMP's `__tcfapi`. A mapping without
   * `analytics` leaves that decision to the visitor: the CMP's answer sets its purposes for the page only.
   */
  tcf?: TcfMapping | false;
  /**
   * Name of the dataLayer to read Google Consent Mode v2 signals from, or false to ignore them. A `default`
   * command can only deny (its grants, region-scoped or not, are ignored), and its denials hold for every
   * visitor even when it names a `region`: the browser cannot tell where the visitor is, so a site that
   * denies only in some regions renders `defaults` (or its `default` command) per region on its server.
   * Signals pushed before the SDK loaded are read before anything is stored. An `update` decides only the
   * purposes it names: with `analytics_storage`, or once the visitor has decided, it is recorded like
   * `set` (persisted, `Consent Updated`). One without `analytics_storage` from an undecided visitor (only
   * ad signals, say) changes its purposes for this page and nothing else: the visitor stays undecided
   * (events held, nothing erased, the banner still offered), nothing is persisted and no `Consent Updated`
   * is sent; CMPs repeat their update on every page, and the next decision carries it.
   */
  consentMode?: string | false;
  /** Most events held in memory before a decision, in either mode (older ones are dropped first, logged with `debug`; default 500). */
  maxHeld?: number;
}

export interface ConsentPlugin extends TagflowPlugin {
  /** The purposes the visitor can choose. */
  readonly purposes: string[];
  /** The current state (a copy). */
  get(): Preferences;
  /**
   * Whether a decision was recorded: by the visitor (`set`, the banner), a TCF CMP, a Consent Mode
   * `update` that names `analytics_storage`, or on an earlier page (the saved `tf_consent`).
   */
  decided(): boolean;
  /**
   * Records a decision: persists it, emits `Consent Updated` with the whole state, applies it (in every
   * open tab). Denying analytics erases what identifies the visitor (`PluginApi.erase`). Only booleans
   * count: a value of another type (`'granted'`) is skipped, and a call that sets none of the choosable
   * purposes to true or false (or is not given an object) decides nothing; each is logged with `debug`.
   */
  set(choices: Preferences): void;
  /** True when every purpose given is granted. */
  granted(purposes: string[]): boolean;
  /**
   * Calls `listener` after every change of the state, once the change is applied (held events released,
   * or the erase under way); one that throws is logged and skipped. Returns a function that unsubscribes.
   */
  onChange(listener: (state: Preferences) => void): () => void;
}

const storageKey = 'tf_consent';
/** The choice saved by this or another tab of the site; undefined when none. */
const savedChoice = () => readJson<{ categoryPreferences?: Preferences }>(storageKey)?.categoryPreferences;

/**
 * An event stripped of everything that identifies the visitor across pages (user id, traits, session,
 * the cart plugin's stored cart_id); identify/alias/group are dropped.
 */
export function cookieless(event: TagflowEvent, pageId: string): TagflowEvent | null {
  if (event.type !== 'track' && event.type !== 'page') return null;
  const { userId: _user, traits: _traits, ...rest } = event;
  const { sessionId: _session, ...context } = event.context;
  const { cart_id: _cart, ...properties } = event.properties ?? {};
  return { ...rest, anonymousId: pageId, properties, context: context as TagflowEvent['context'] };
}

/** The consent plugin: `const consent = consentPlugin({ mode: 'hold' }); tagflow.use(consent)`. */
export function consentPlugin(options: ConsentOptions = {}): ConsentPlugin {
  const purposes = options.purposes ?? defaultPurposes;
  const saved = savedChoice();
  let decided = saved !== undefined;
  let state: Preferences = {};
  for (const purpose of purposes) state[purpose] = purpose === 'necessary' || (saved ?? options.defaults ?? {})[purpose] === true;
  const held: TagflowEvent[] = [];
  const listeners = new Set<(state: Preferences) => void>();
  let pageId = uuid();
  const cookielessMode = options.mode === 'cookieless';
  let api: PluginApi | undefined;

  const snapshot = () => ({ ...state });
  let applied = false;
  const apply = () => {
    if (api) {
      applied = true;
      api.setContext('consent', { categoryPreferences: snapshot() });
      const analytics = state.analytics === true;
      const denied = decided && !analytics;
      // After a denial nothing is sent until the erase is done; then cookieless sending resumes.
      api.setPolicy({ persist: analytics, send: analytics || (cookielessMode && !denied) });
      if (analytics) {
        for (const event of held.splice(0)) {
          event.context.consent = { categoryPreferences: snapshot() };
          api.enqueue(event);
        }
      } else if (denied) {
        // Denied (now or on an earlier page): like clearing cookies. The cookieless id changes too, so
        // what is sent from now on links to nothing sent before.
        held.length = 0;
        pageId = uuid();
        void api.erase().then(() => api?.setPolicy({ send: state.analytics || cookielessMode }));
      }
    }
    // The site's listeners run last, each guarded: one that throws must neither reach the caller (a CMP,
    // the banner) nor keep the decision from being applied.
    listeners.forEach((listener) => {
      try {
        listener(snapshot());
      } catch (error) {
        api?.log('consent: onChange listener failed', error);
      }
    });
  };
  /**
   * Takes the booleans `choices` gives for the purposes the visitor can choose; true when that changed the
   * state or made the first decision. Another value is skipped, and choices without one boolean (not even an
   * object) decide nothing: `set({ analytics: 'granted' })` must not record a denial, erasing the visitor.
   */
  const update = (choices: Record<string, unknown> | null | undefined, decision: boolean) => {
    let valid = false;
    let changed = false;
    for (const purpose of purposes) {
      const choice = choices?.[purpose];
      if (purpose === 'necessary' || choice === undefined) continue;
      if (typeof choice !== 'boolean') api?.log('consent: not true or false, skipped', purpose, choice);
      else {
        valid = true;
        changed ||= choice !== state[purpose];
        state[purpose] = choice;
      }
    }
    if (!valid) {
      if (decision) api?.log('consent: no purpose true or false, nothing decided:', choices);
    } else if (decision && !decided) changed = decided = true;
    return valid && changed;
  };

  const plugin: ConsentPlugin = {
    name: 'consent',
    purposes,
    get: snapshot,
    decided: () => decided,
    granted: (wanted) => wanted.every((purpose) => state[purpose] === true),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    set(choices) {
      if (!update(choices, true)) return;
      // Applied (the identity saved, once persistence is allowed) before the choice is saved: other tabs
      // apply it when they see it saved, and then adopt this tab's identity instead of writing their own.
      apply();
      writeJson(storageKey, { categoryPreferences: state }); // blocked storage: the choice holds for this page
      api?.tagflow.track('Consent Updated', { categoryPreferences: snapshot() });
    },
    setup(a) {
      api = a;
      // A CMP's answer (TCF, a Consent Mode update) decides only what it names: one without analytics (ad
      // signals only, a TCF mapping without it) leaves an undecided visitor undecided for this page, since
      // a recorded decision without analytics would deny it, erasing the visitor and dropping held events.
      const fromCmp = (choices: Preferences) => {
        if (decided || 'analytics' in choices) plugin.set(choices);
        else if (update(choices, false)) apply();
      };
      const tcfapi = (window as unknown as { __tcfapi?: (...args: unknown[]) => void }).__tcfapi;
      if (options.tcf !== false && typeof tcfapi === 'function') {
        tcfapi('addEventListener', 2, (data: TcData, success: boolean) => {
          const choices = success ? purposesFromTcf(data, options.tcf || defaultTcfMapping) : undefined;
          if (choices) fromCmp(choices);
        });
      }
      // A decision made in another tab (a withdrawal there erased the device) applies here too, without a
      // second Consent Updated: this tab neither sends the old ids nor writes them back.
      const fromOtherTab = (event: StorageEvent) => {
        const choices = event.key === storageKey ? savedChoice() : undefined;
        if (choices && update(choices, true)) apply();
      };
      addEventListener('storage', fromOtherTab);
      const stopConsentMode =
        options.consentMode === false
          ? undefined
          : watchDataLayer(options.consentMode ?? 'dataLayer', (entry) => {
              const signal = consentModeSignal(entry);
              if (signal?.command === 'update') fromCmp(signal.preferences);
              else if (signal && !decided && update(signal.preferences, false)) apply();
            });
      // Applied only now, once the page's own signals (a Consent Mode default pushed before the SDK, a TCF
      // answer given at once) are read: applying `defaults` first would write the identity they deny. A
      // signal that changed the state has applied it already (a second apply would erase twice).
      if (!applied) apply();
      return () => {
        removeEventListener('storage', fromOtherTab);
        stopConsentMode?.();
      };
    },
    beforeQueue(event) {
      if (state.analytics) return event;
      // Undecided, cookieless too: a grant sends the whole event again (same messageId, which the
      // warehouse keeps once, the newest delivery), so the landing page and its campaign are the visitor's.
      if (!decided) {
        held.push(event);
        if (held.length > (options.maxHeld ?? 500)) api?.log('consent: over maxHeld, dropped', held.shift());
        api?.log('consent: holding', event.type, event.event ?? '', 'until analytics is granted');
      }
      return cookielessMode ? cookieless(event, pageId) : null;
    },
  };
  return plugin;
}
