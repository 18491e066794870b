import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPluginHost } from '../../../test/support/plugin-host';
import type { DeliveryPolicy } from '../../core/plugin';
import { consentPlugin, type ConsentPlugin } from './consent';

type W = Window & { __tcfapi?: unknown; dataLayer?: unknown[] };

beforeEach(() => localStorage.clear());
afterEach(() => {
  delete (window as W).__tcfapi;
  delete (window as W).dataLayer;
});

describe('consent plugin, hold mode (default)', () => {
  it('holds events in its memory with nothing persisted or sent, then releases them with the granted state', () => {
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    expect(host.policy).toEqual({ persist: false, send: false });
    expect(host.context.consent).toEqual({ categoryPreferences: { necessary: true, analytics: false, marketing: false, personalization: false } });
    host.tagflow.page();
    host.tagflow.track('Product Added', { sku: 'a' });
    expect(host.queued).toEqual([]);

    consent.set({ analytics: true });
    expect(host.policy).toEqual({ persist: true, send: true });
    expect(host.names()).toEqual(['page', 'Product Added', 'Consent Updated']);
    const granted = { necessary: true, analytics: true, marketing: false, personalization: false };
    for (const event of host.queued) expect(event.context.consent).toEqual({ categoryPreferences: granted });
    expect(host.queued[0]?.messageId).toBe('m-1'); // the held event itself, not a copy with a new id
    expect(host.queued[2]?.properties).toEqual({ categoryPreferences: granted });
    expect(JSON.parse(localStorage.getItem('tf_consent') ?? '{}')).toEqual({ categoryPreferences: granted });
  });

  it('after a denial drops held and later events, has the core erase (queue included) and sends nothing', () => {
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    host.tagflow.track('Before');
    consent.set({ analytics: false, marketing: false });
    host.tagflow.track('After');
    expect(host.queued).toEqual([]);
    expect(host.eraseCalls).toBeGreaterThan(0);
    expect(host.policy).toEqual({ persist: false, send: false });
    consent.set({ analytics: true });
    expect(host.names()).toEqual(['Consent Updated']);
  });

  it('remembers the choice across page loads and does not re-emit an unchanged decision', () => {
    consentPlugin().set({ analytics: true, marketing: true });
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    expect(consent.decided()).toBe(true);
    expect(consent.granted(['analytics', 'marketing'])).toBe(true);
    expect(consent.granted(['personalization'])).toBe(false);
    consent.set({ analytics: true });
    expect(host.queued).toEqual([]);
  });

  it('never lets necessary be denied and calls listeners on change', () => {
    const host = createPluginHost();
    const consent = consentPlugin({ defaults: { analytics: true } });
    const seen: unknown[] = [];
    consent.onChange((state) => seen.push(state));
    host.use(consent);
    consent.set({ necessary: false, marketing: true });
    expect(consent.get()).toEqual({ necessary: true, analytics: true, marketing: true, personalization: false });
    expect(seen.at(-1)).toEqual(consent.get());
  });
});

describe('consent.set with what is not a choice', () => {
  it('refuses a non-object and decides nothing without one boolean: the visitor stays undecided and held', () => {
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    host.tagflow.track('Held');
    const set = consent.set as (choices: unknown) => void; // what a page's script may pass
    for (const choices of [null, undefined, 'analytics', { analytics: 'granted', marketing: 'granted' }, {}, { necessary: true }]) {
      expect(() => set(choices)).not.toThrow();
    }
    expect(consent.decided()).toBe(false);
    expect(consent.get()).toEqual({ necessary: true, analytics: false, marketing: false, personalization: false });
    expect(host.eraseCalls).toBe(0);
    expect(localStorage.getItem('tf_consent')).toBeNull();
    expect(host.logs).toContain('consent: not true or false, skipped analytics granted');
    expect(host.logs).toContain('consent: not true or false, skipped marketing granted');
    const nothing = host.logs.filter((line) => line.startsWith('consent: no purpose true or false, nothing decided:'));
    expect(nothing.map((line) => line.split(': ').at(-1))).toEqual(['null', 'undefined', 'analytics', '[object Object]', '[object Object]', '[object Object]']);
    consent.set({ analytics: true }); // the held event is still there to flow
    expect(host.names()).toEqual(['Held', 'Consent Updated']);
  });

  it('takes the booleans of a call and skips its other values', () => {
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    (consent.set as (choices: unknown) => void)({ analytics: true, marketing: 'yes', personalization: 1 });
    expect(consent.decided()).toBe(true);
    expect(consent.get()).toEqual({ necessary: true, analytics: true, marketing: false, personalization: false });
    expect(host.logs).toContain('consent: not true or false, skipped marketing yes');
    expect(host.logs).toContain('consent: not true or false, skipped personalization 1');
  });
});

describe('consent.onChange listeners', () => {
  const failing = () => {
    throw new Error('bug in the site listener');
  };

  it('a listener that throws neither reaches the caller nor stops a grant: held events are released', () => {
    const host = createPluginHost();
    const consent = consentPlugin();
    const seen: boolean[] = [];
    host.use(consent);
    consent.onChange(failing);
    consent.onChange((state) => seen.push(state.analytics === true)); // later listeners still run
    host.tagflow.track('Held');
    expect(() => consent.set({ analytics: true })).not.toThrow();
    expect(host.policy).toEqual({ persist: true, send: true });
    expect(host.names()).toEqual(['Held', 'Consent Updated']);
    expect(seen).toEqual([true]);
    expect(host.logs.some((line) => line.includes('onChange listener failed'))).toBe(true);
  });

  it('a listener that throws does not stop a withdrawal from erasing; listeners see the policy already applied', () => {
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    consent.set({ analytics: true });
    const policies: unknown[] = [];
    consent.onChange(() => policies.push({ ...host.policy, erased: host.eraseCalls }));
    consent.onChange(failing);
    expect(() => consent.set({ analytics: false })).not.toThrow();
    expect(host.eraseCalls).toBe(1);
    expect(policies).toEqual([{ persist: false, send: false, erased: 1 }]);
  });
});

describe('events held over maxHeld', () => {
  it('drop the oldest first, each with a debug message', () => {
    const host = createPluginHost();
    const consent = consentPlugin({ maxHeld: 2 });
    host.use(consent);
    for (const name of ['One', 'Two', 'Three']) host.tagflow.track(name);
    expect(host.logs.filter((line) => line.startsWith('consent: over maxHeld'))).toHaveLength(1);
    consent.set({ analytics: true });
    expect(host.names()).toEqual(['Two', 'Three', 'Consent Updated']);
  });
});

describe('consent plugin, cookieless mode', () => {
  it('sends track and page events without identifiers before analytics is granted; drops identify', () => {
    const host = createPluginHost();
    const consent = consentPlugin({ mode: 'cookieless' });
    host.use(consent);
    expect(host.policy).toEqual({ persist: false, send: true });
    host.context.sessionId = 's-1';
    host.tagflow.identify('user-1', { email: 'a@example.com' });
    host.tagflow.track('Viewed', { cart_id: 'c-1', sku: 'a' });
    expect(host.names()).toEqual(['Viewed']);
    expect(host.queued[0]?.properties).toEqual({ sku: 'a' });
    const [event] = host.queued;
    expect(event?.anonymousId).not.toBe('anon-1');
    expect(event && 'userId' in event).toBe(false);
    expect(event?.context.sessionId).toBeUndefined();
  });

  it('sends what it sent stripped again once analytics is granted: whole, same messageIds, with the grant', () => {
    const host = createPluginHost();
    const consent = consentPlugin({ mode: 'cookieless' });
    host.use(consent);
    host.context.sessionId = 's-1';
    host.tagflow.page();
    host.tagflow.identify('user-1');
    host.tagflow.track('Clicked');
    const stripped = [...host.queued];
    consent.set({ analytics: true });
    const again = host.queued.slice(2, 5);
    expect(host.names('track')).toEqual(['Clicked', 'Clicked', 'Consent Updated']);
    expect(again.map((event) => event.messageId)).toEqual([stripped[0]?.messageId, expect.any(String), stripped[1]?.messageId]);
    expect(again.map((event) => event.type)).toEqual(['page', 'identify', 'track']); // identify was not sent stripped
    for (const event of again) {
      expect(event).toMatchObject({ anonymousId: 'anon-1', context: { sessionId: 's-1', consent: { categoryPreferences: { analytics: true } } } });
    }
    expect(again[1]?.userId).toBe('user-1');
  });

  it('drops the whole copies on a denial, and keeps none once decided', () => {
    const host = createPluginHost();
    const consent = consentPlugin({ mode: 'cookieless' });
    host.use(consent);
    host.tagflow.track('Before Denial');
    consent.set({ analytics: false });
    host.tagflow.track('After Denial');
    consent.set({ analytics: true });
    expect(host.names()).toEqual(['Before Denial', 'Consent Updated', 'After Denial', 'Consent Updated']);
  });
});

describe('consent withdrawn', () => {
  it('asks the core to erase what identifies the visitor, again on later pages, but not while undecided', () => {
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    expect(host.eraseCalls).toBe(0); // undecided: the device is left as it is
    consent.set({ analytics: true });
    expect(host.eraseCalls).toBe(0);
    consent.set({ analytics: false });
    expect(host.eraseCalls).toBe(1);
    const next = createPluginHost(); // a later page remembers the denial
    next.use(consentPlugin());
    expect(next.eraseCalls).toBe(1);
  });

  it('applies a withdrawal made in another tab (storage event) without a second Consent Updated', () => {
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    consent.set({ analytics: true });
    const denied = { necessary: true, analytics: false, marketing: false, personalization: false };
    localStorage.setItem('tf_consent', JSON.stringify({ categoryPreferences: denied })); // what the other tab wrote
    dispatchEvent(new StorageEvent('storage', { key: 'other' }));
    expect(consent.get().analytics).toBe(true);
    dispatchEvent(new StorageEvent('storage', { key: 'tf_consent' }));
    expect(consent.get()).toEqual(denied);
    expect(host.eraseCalls).toBe(1);
    expect(host.policy).toEqual({ persist: false, send: false });
    host.tagflow.track('After');
    expect(host.names()).toEqual(['Consent Updated']);
  });

  it('cookieless: events after a withdrawal carry a new per-page id, unlinked to the ones before', () => {
    const host = createPluginHost();
    const consent = consentPlugin({ mode: 'cookieless' });
    host.use(consent);
    host.tagflow.track('Before');
    consent.set({ analytics: true });
    consent.set({ analytics: false });
    host.tagflow.track('After');
    const [before, , , , after] = host.queued;
    expect(host.names()).toEqual(['Before', 'Before', 'Consent Updated', 'Consent Updated', 'After']); // sent again at the grant
    expect(after?.anonymousId).not.toBe(before?.anonymousId);
    expect(after?.anonymousId).not.toBe('anon-1');
  });
});

/** Uses `consent` on a host, recording every policy it sets (the core writes the identity when `persist` is set). */
function useRecordingPolicies(consent: ConsentPlugin) {
  const host = createPluginHost();
  const policies: Partial<DeliveryPolicy>[] = [];
  const setup = consent.setup;
  consent.setup = (api) => setup?.({ ...api, setPolicy: (policy) => (policies.push(policy), api.setPolicy(policy)) });
  host.use(consent);
  return { host, policies };
}

describe("the page's own signals, read before the first policy", () => {
  it('a Consent Mode default pushed before the SDK denies analytics before `defaults` could allow persisting', () => {
    (window as W).dataLayer = [['consent', 'default', { analytics_storage: 'denied', ad_storage: 'denied' }]];
    const consent = consentPlugin({ defaults: { analytics: true } });
    const { host, policies } = useRecordingPolicies(consent);
    expect(policies).toEqual([{ persist: false, send: false }]);
    expect(consent.decided()).toBe(false);
    host.tagflow.track('Held');
    expect(host.queued).toEqual([]);
  });

  it('a TCF answer given at once is applied before anything else, once', () => {
    (window as W).__tcfapi = (command: string, _v: number, callback: (data: unknown, ok: boolean) => void) => {
      if (command === 'addEventListener') callback({ gdprApplies: true, eventStatus: 'tcloaded', purpose: { consents: { 1: true } } }, true);
    };
    const consent = consentPlugin({ defaults: { analytics: true } });
    const seen: unknown[] = [];
    consent.onChange((state) => seen.push(state.analytics));
    const { host, policies } = useRecordingPolicies(consent);
    expect(policies.some((policy) => policy.persist)).toBe(false);
    expect(consent.decided()).toBe(true);
    expect(host.eraseCalls).toBe(1);
    expect(seen).toEqual([false]);
  });

  it("a region-scoped Consent Mode default denies everywhere: the browser cannot tell the visitor's region", () => {
    (window as W).dataLayer = [['consent', 'default', { analytics_storage: 'denied', region: ['DE', 'FR'] }]];
    const consent = consentPlugin({ defaults: { analytics: true } });
    const { policies } = useRecordingPolicies(consent);
    expect(consent.get().analytics).toBe(false);
    expect(consent.decided()).toBe(false);
    expect(policies).toEqual([{ persist: false, send: false }]);
  });
});

describe('consent from the page', () => {
  it('maps a TCF CMP answer', () => {
    const listeners: ((data: unknown, ok: boolean) => void)[] = [];
    (window as W).__tcfapi = (command: string, _v: number, callback: (data: unknown, ok: boolean) => void) => {
      if (command === 'addEventListener') listeners.push(callback);
    };
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    listeners[0]?.({ gdprApplies: true, eventStatus: 'cmpuishown' }, true);
    expect(consent.decided()).toBe(false);
    listeners[0]?.({ gdprApplies: true, eventStatus: 'useractioncomplete', purpose: { consents: { 1: true, 8: true, 9: true } } }, true);
    expect(consent.get()).toEqual({ necessary: true, analytics: true, marketing: false, personalization: false });
    expect(host.names()).toEqual(['Consent Updated']);
  });

  it('a TCF answer mapped without analytics (a custom mapping) decides its purposes only: the visitor stays undecided', () => {
    const listeners: ((data: unknown, ok: boolean) => void)[] = [];
    (window as W).__tcfapi = (command: string, _v: number, callback: (data: unknown, ok: boolean) => void) => {
      if (command === 'addEventListener') listeners.push(callback);
    };
    const host = createPluginHost();
    const consent = consentPlugin({ tcf: { marketing: [1, 2, 3, 4, 7] } });
    host.use(consent);
    host.tagflow.track('Held');
    listeners[0]?.({ gdprApplies: true, eventStatus: 'useractioncomplete', purpose: { consents: { 1: true, 2: true, 3: true, 4: true, 7: true } } }, true);
    expect(consent.get()).toMatchObject({ analytics: false, marketing: true });
    expect(consent.decided()).toBe(false);
    expect(host.eraseCalls).toBe(0);
    expect(host.queued).toEqual([]); // held, not dropped
    consent.set({ analytics: true }); // the visitor decides: the held event is still there to flow
    expect(host.names()).toEqual(['Held', 'Consent Updated']);
  });

  it('reads Consent Mode defaults (not a decision) and updates (a decision) from dataLayer', () => {
    (window as W).dataLayer = [['consent', 'default', { analytics_storage: 'denied', ad_storage: 'denied' }]];
    const host = createPluginHost();
    const consent = consentPlugin({ defaults: { marketing: true } });
    host.use(consent);
    expect(consent.get().marketing).toBe(false);
    expect(consent.decided()).toBe(false);
    (window as W).dataLayer?.push(['consent', 'update', { analytics_storage: 'granted' }]);
    expect(consent.decided()).toBe(true);
    expect(consent.get().analytics).toBe(true);
  });

  it('a Consent Mode update naming only ad signals decides marketing, not analytics: an undecided visitor stays undecided', () => {
    (window as W).dataLayer = [];
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    host.tagflow.track('Held');
    (window as W).dataLayer?.push(['consent', 'update', { ad_storage: 'granted', ad_user_data: 'granted', ad_personalization: 'granted' }]);
    expect(consent.get()).toEqual({ necessary: true, analytics: false, marketing: true, personalization: false });
    expect(consent.decided()).toBe(false); // the banner is still offered
    expect(host.eraseCalls).toBe(0);
    expect(host.policy).toEqual({ persist: false, send: false });
    expect(localStorage.getItem('tf_consent')).toBeNull(); // the CMP repeats its update on the next page
    expect(host.queued).toEqual([]); // still held, and no Consent Updated for half a decision

    (window as W).dataLayer?.push(['consent', 'update', { analytics_storage: 'granted' }]);
    const granted = { necessary: true, analytics: true, marketing: true, personalization: false };
    expect(consent.decided()).toBe(true);
    expect(host.names()).toEqual(['Held', 'Consent Updated']);
    expect(host.queued[1]?.properties).toEqual({ categoryPreferences: granted });
    expect(JSON.parse(localStorage.getItem('tf_consent') ?? '{}')).toEqual({ categoryPreferences: granted });
  });

  it('once the visitor has decided, an update naming only ad signals is recorded and leaves analytics as it was', () => {
    consentPlugin().set({ analytics: true });
    (window as W).dataLayer = [];
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    (window as W).dataLayer?.push(['consent', 'update', { ad_storage: 'granted', ad_user_data: 'granted', ad_personalization: 'denied' }]);
    (window as W).dataLayer?.push(['consent', 'update', { ad_storage: 'granted', ad_user_data: 'granted', ad_personalization: 'granted' }]);
    const state = { necessary: true, analytics: true, marketing: true, personalization: false };
    expect(consent.get()).toEqual(state);
    expect(host.eraseCalls).toBe(0);
    expect(host.names()).toEqual(['Consent Updated']); // the first update changed nothing (marketing was denied)
    expect(JSON.parse(localStorage.getItem('tf_consent') ?? '{}')).toEqual({ categoryPreferences: state });
  });

  it("never grants from a Consent Mode default: Google's region-scoped setup keeps an EU visitor undecided and held", () => {
    (window as W).dataLayer = [
      ['consent', 'default', { analytics_storage: 'denied', ad_storage: 'denied', region: ['DE', 'FR'] }],
      ['consent', 'default', { analytics_storage: 'granted', ad_storage: 'granted' }],
    ];
    const host = createPluginHost();
    const consent = consentPlugin();
    host.use(consent);
    host.tagflow.track('Viewed');
    expect(consent.get()).toEqual({ necessary: true, analytics: false, marketing: false, personalization: false });
    expect(host.policy).toEqual({ persist: false, send: false });
    expect(host.queued).toEqual([]);
    (window as W).dataLayer?.push(['consent', 'update', { analytics_storage: 'granted' }]);
    expect(host.policy).toEqual({ persist: true, send: true });
    expect(host.names()).toContain('Viewed');
  });
});
