// Who the device is: the anonymous id (in a first-party cookie and in localStorage, each restoring the
// other), the known user id and traits, and the session id. Values live in memory; `save` writes them
// when the delivery policy allows persistence, so a consent plugin can keep the device untouched, and
// `erase` removes them when consent is withdrawn.
import type { Properties } from './types';
import { readCookie, readJson, writeCookie, writeLocal } from './storage';
import { safeJson } from './safe-json';
import { uuid } from './uuid';

/** The cookie holding the anonymous id. */
export const cookieName = 'tf_aid';
/** The localStorage key holding the identity as JSON ({@link Stored}). */
export const storageKey = 'tf_id';

/** A session ends after 30 minutes without events. */
export const sessionTimeout = 30 * 60_000;

/** A session: its id and the time of its last event (ms). */
export type Session = [id: string, last: number];

/** The session an event at `now` belongs to: the current one while active, otherwise a new one. */
export function nextSession(current: Session | undefined, now: number): Session {
  return [current && now - current[1] < sessionTimeout ? current[0] : uuid(), now];
}

interface Stored {
  anonymousId?: string;
  userId?: string;
  traits?: Properties;
  session?: Session;
}

/** What localStorage holds; nothing (start afresh) when missing or unreadable. */
const readStored = (): Stored => readJson<Stored>(storageKey) ?? {};

export interface Identity {
  anonymousId: string;
  userId?: string;
  traits: Properties;
  /** The session id for an event at `now` (default: this moment), renewed after inactivity. */
  session(now?: number): string;
  /** Sets the user id (when given) and merges traits. */
  setUser(userId: string | undefined, traits?: Properties): void;
  /** Forgets the user and traits; new anonymous id and session. */
  reset(): void;
  /** Writes the identity to the cookie and localStorage. */
  save(): void;
  /** Removes both stored copies and starts afresh like {@link Identity.reset}: nothing links what follows to the old id. */
  erase(): void;
}

export function loadIdentity(cookieDomain?: string): Identity {
  const stored = readStored();
  let current = stored.session;
  const identity: Identity = {
    // Whichever copy survived restores the other on the next save.
    anonymousId: readCookie(cookieName) ?? stored.anonymousId ?? uuid(),
    userId: stored.userId,
    traits: stored.traits ?? {},
    session(now = Date.now()) {
      // Another tab may have kept the session alive while this one was idle.
      if (!current || now - current[1] >= sessionTimeout) current = readStored().session ?? current;
      current = nextSession(current, now);
      return current[0];
    },
    setUser(id, more) {
      if (id) identity.userId = id;
      identity.traits = { ...identity.traits, ...more };
    },
    reset() {
      identity.anonymousId = uuid();
      identity.userId = undefined;
      identity.traits = {};
      current = undefined;
    },
    save() {
      writeCookie(cookieName, identity.anonymousId, cookieDomain);
      // anonymousId, userId, traits and the session: JSON leaves the methods out. Traits are whatever the
      // page passed: serialised safely (cycles, BigInt) so saving never throws; should even that fail, the
      // stale copy is removed and the cookie restores the anonymous id.
      writeLocal(storageKey, safeJson({ ...identity, session: current }));
    },
    erase() {
      identity.reset();
      writeCookie(cookieName, '', cookieDomain);
      writeLocal(storageKey);
    },
  };
  return identity;
}
