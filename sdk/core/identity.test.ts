import { beforeEach, describe, expect, it, vi } from 'vitest';
import { maxIdLength } from '../../collector/ingest/schema';
import { cookieName, loadIdentity, maxUserIdLength, nextSession, sessionTimeout, storageKey, validUserId } from './identity';

function clearDevice(): void {
  localStorage.clear();
  document.cookie = `${cookieName}=;path=/;max-age=0`;
}
const cookieValue = () => document.cookie.match(/(?:^|; )tf_aid=([^;]*)/)?.[1] || undefined;
const stored = () => JSON.parse(localStorage.getItem(storageKey) ?? '{}') as Record<string, unknown>;

beforeEach(clearDevice);

describe('nextSession', () => {
  it('keeps the session while events come within 30 minutes, and starts a new one after', () => {
    const first = nextSession(undefined, 0);
    const later = nextSession(first, sessionTimeout - 1);
    expect(later[0]).toBe(first[0]);
    expect(nextSession(later, 2 * sessionTimeout - 2)[0]).toBe(first[0]); // inactivity counts from the last event
    expect(nextSession(later, 2 * sessionTimeout)[0]).not.toBe(first[0]);
  });
});

describe('loadIdentity', () => {
  it('creates an anonymous id and writes it to both the cookie and localStorage on save', () => {
    const identity = loadIdentity();
    expect(cookieValue()).toBeUndefined(); // nothing written before save
    identity.save();
    expect(cookieValue()).toBe(identity.anonymousId);
    expect(stored().anonymousId).toBe(identity.anonymousId);
  });

  it('restores localStorage from the cookie, and the cookie from localStorage', () => {
    document.cookie = `${cookieName}=from-cookie;path=/`;
    const fromCookie = loadIdentity();
    expect(fromCookie.anonymousId).toBe('from-cookie');
    fromCookie.save();
    expect(stored().anonymousId).toBe('from-cookie');

    document.cookie = `${cookieName}=;path=/;max-age=0`;
    const fromStorage = loadIdentity();
    expect(fromStorage.anonymousId).toBe('from-cookie');
    fromStorage.save();
    expect(cookieValue()).toBe('from-cookie');
  });

  it('writes the cookie for a year, SameSite=Lax, on the configured domain', () => {
    const set = vi.spyOn(document, 'cookie', 'set');
    loadIdentity('.example.com').save();
    expect(set.mock.calls[0]?.[0]).toMatch(/^tf_aid=[0-9a-f-]{36};path=\/;max-age=31536000;samesite=lax;domain=\.example\.com$/);
    set.mockRestore();
  });

  it('keeps the user id and traits across loads, and reset() forgets them with a new anonymous id', () => {
    const identity = loadIdentity();
    identity.setUser('u1', { plan: 'pro' });
    identity.setUser(undefined, { seats: 3 });
    identity.save();
    const reloaded = loadIdentity();
    expect(reloaded).toMatchObject({ anonymousId: identity.anonymousId, userId: 'u1', traits: { plan: 'pro', seats: 3 } });

    reloaded.reset();
    reloaded.save();
    const afterReset = loadIdentity();
    expect(afterReset.anonymousId).not.toBe(identity.anonymousId);
    expect(afterReset.userId).toBeUndefined();
    expect(afterReset.traits).toEqual({});
    expect(cookieValue()).toBe(afterReset.anonymousId);
  });

  it('erase() removes the cookie and localStorage and starts afresh, so nothing links to the old id', () => {
    const identity = loadIdentity();
    identity.setUser('u1', { email: 'a@example.com' });
    identity.session(1_000_000);
    identity.save();
    const old = identity.anonymousId;
    identity.erase();
    expect(cookieValue()).toBeUndefined(); // expired (max-age=0, below); real deletion is checked in Chromium
    expect(localStorage.getItem(storageKey)).toBeNull();
    expect(identity.anonymousId).not.toBe(old);
    expect(identity).toMatchObject({ userId: undefined, traits: {} });
    expect(loadIdentity().anonymousId).not.toBe(old); // a reload finds nothing either
  });

  it('erase() expires the cookie on the domain it was written for', () => {
    const set = vi.spyOn(document, 'cookie', 'set');
    loadIdentity('.example.com').erase();
    expect(set.mock.calls[0]?.[0]).toMatch(/^tf_aid=;path=\/;max-age=0;samesite=lax;domain=\.example\.com$/);
    set.mockRestore();
  });

  it('renews the session after 30 minutes of inactivity and keeps it across reloads', () => {
    const identity = loadIdentity();
    const first = identity.session(1_000_000);
    expect(identity.session(1_000_000 + sessionTimeout - 1)).toBe(first);
    identity.save();
    expect(loadIdentity().session(1_000_000 + sessionTimeout)).toBe(first); // a reload continues it
    const renewed = identity.session(1_000_000 + 2 * sessionTimeout);
    expect(renewed).not.toBe(first);
  });

  it('starts afresh from unreadable storage', () => {
    localStorage.setItem(storageKey, '{not json');
    expect(loadIdentity().anonymousId).toMatch(/^[0-9a-f-]{36}$/);
    localStorage.setItem(storageKey, 'null');
    expect(loadIdentity().traits).toEqual({});
  });
});

describe('validUserId', () => {
  it('takes what the collector takes as a userId: a string of at most 100 characters, or a safe integer (as a string)', () => {
    expect(maxUserIdLength).toBe(maxIdLength); // the collector's limit (collector/ingest/schema.ts)
    expect(validUserId('u1')).toBe('u1');
    expect(validUserId('u'.repeat(100))).toBe('u'.repeat(100));
    expect(validUserId(12345)).toBe('12345');
    expect(validUserId(Number.MAX_SAFE_INTEGER)).toBe('9007199254740991');
  });

  it('takes no blank id: \'\' is no id, and one of spaces the collector refuses (it would name everyone sent with it)', () => {
    for (const blank of ['', ' ', '  \t']) expect(validUserId(blank)).toBeUndefined();
    expect(validUserId(' u ')).toBe(' u ');
  });

  it('refuses what the collector would quarantine every later event for', () => {
    for (const bad of ['u'.repeat(101), 12345678901234567891, 1.5, NaN, true, { email: 'a@example.com' }, ['u1'], null, undefined]) {
      expect(validUserId(bad)).toBeUndefined();
    }
  });
});

describe('loadIdentity with a refused userId', () => {
  it('keeps the current user id when setUser gets one the collector would refuse, and still merges the traits', () => {
    const identity = loadIdentity();
    identity.setUser('u1');
    for (const bad of ['u'.repeat(101), 12345678901234567891, true, { email: 'a@example.com' }, '']) identity.setUser(bad, { seen: true });
    expect(identity).toMatchObject({ userId: 'u1', traits: { seen: true } });
    identity.setUser(42);
    expect(identity.userId).toBe('42');
  });

  it('forgets a userId an older version stored unchecked, and keeps the rest of the identity', () => {
    for (const bad of [{ email: 'a@example.com' }, 'u'.repeat(101), 12345678901234567000, true]) {
      localStorage.setItem(storageKey, JSON.stringify({ anonymousId: 'a-1', userId: bad, traits: { plan: 'pro' } }));
      const identity = loadIdentity();
      expect(identity).toMatchObject({ anonymousId: 'a-1', userId: undefined, traits: { plan: 'pro' } });
      identity.save();
      expect(stored()).not.toHaveProperty('userId');
    }
  });

  it('forgets such a userId written by another tab (an older version still open there)', () => {
    const a = loadIdentity();
    a.setUser('u1');
    a.save();
    localStorage.setItem(storageKey, JSON.stringify({ ...stored(), userId: { email: 'a@example.com' } }));
    a.session(1_000_000); // takes in the other tab's copy
    expect(a.userId).toBeUndefined();
  });
});

// Two identities loaded in one document share its cookie and localStorage, as two tabs of a site do.
describe('loadIdentity with several tabs', () => {
  it('uses a login and traits stored by another tab for its next event, and keeps them when it saves', () => {
    const a = loadIdentity();
    const b = loadIdentity();
    a.save();
    b.save();
    a.setUser('alice', { plan: 'pro' });
    a.save();
    b.session(1_000_000); // b's next event
    expect(b).toMatchObject({ anonymousId: a.anonymousId, userId: 'alice', traits: { plan: 'pro' } });
    b.setUser(undefined, { seats: 3 });
    b.save();
    expect(loadIdentity()).toMatchObject({ userId: 'alice', traits: { plan: 'pro', seats: 3 } }); // a new tab
  });

  it('follows a reset (logout) in another tab, and its own reset is not undone by an older write of another tab', () => {
    const a = loadIdentity();
    a.setUser('bob');
    a.save();
    const b = loadIdentity();
    b.session(1_000_000);
    b.save(); // b's event, after a's last save
    a.reset();
    a.save();
    expect(stored()).toMatchObject({ anonymousId: a.anonymousId });
    expect(stored().userId).toBeUndefined();
    b.session(1_000_001);
    expect(b).toMatchObject({ anonymousId: a.anonymousId, userId: undefined });
    b.save();
    expect(cookieValue()).toBe(a.anonymousId);
  });

  it('continues a session another tab kept alive, and renews it after 30 minutes without events in any tab', () => {
    const a = loadIdentity();
    const b = loadIdentity();
    const first = a.session(1_000_000);
    a.save();
    expect(b.session(1_000_000 + 1)).toBe(first);
    b.save();
    a.session(1_000_000 + sessionTimeout - 1); // a's events keep it going
    a.save();
    expect(b.session(1_000_000 + sessionTimeout + 10)).toBe(first);
    b.save();
    expect(a.session(1_000_000 + 2 * sessionTimeout + 20)).not.toBe(first);
  });

  it('adopts the identity another tab stored while this one could not write (consent granted there), and maps its held events onto it', () => {
    const b = loadIdentity(); // holds events until consent: writes nothing
    const held = { anonymousId: b.anonymousId };
    const a = loadIdentity();
    a.setUser('carol');
    a.save(); // consent granted in a
    b.save(); // b learns of the grant
    expect(b).toMatchObject({ anonymousId: a.anonymousId, userId: 'carol' });
    expect(stored()).toMatchObject({ anonymousId: a.anonymousId, userId: 'carol' });
    expect(b.latest(held).anonymousId).toBe(a.anonymousId);
    expect(b.latest({ anonymousId: 'someone-else' }).anonymousId).toBe('someone-else');
  });

  it('restores what the visitor removed from localStorage instead of adopting its absence', () => {
    const a = loadIdentity();
    a.setUser('dave');
    a.save();
    localStorage.removeItem(storageKey);
    a.session(1_000_000);
    a.save();
    expect(stored()).toMatchObject({ anonymousId: a.anonymousId, userId: 'dave' });
  });
});
