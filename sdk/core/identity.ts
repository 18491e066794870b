// Who the device is: the anonymous id (in a first-party cookie and in localStorage, each restoring the
// other), the known user id and traits, and the session id. Values live in memory; `save` writes them
// when the delivery policy allows persistence, so a consent plugin can keep the device untouched, and
// `erase` removes them when consent is withdrawn. The identity is the browser's, not the tab's: each tab
// takes in what another tab stored before using or changing it, so the latest identify, reset or session
// of any tab is what every tab uses next (as in Segment's analytics.js).
import type { Properties } from './types';
import { parseJson, readCookie, readLocal, writeCookie, writeLocal } from './storage';
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

/** The longest userId the collector takes, in characters: its `maxIdLength` (collector/ingest/schema.ts). */
export const maxUserIdLength = 100;

/**
 * `id` as a userId the collector takes, else undefined. It quarantines every event whose userId is not a
 * string of at most 100 characters or a safe integer (collector/ingest/event.ts), so one such id kept as
 * the user's would lose every later event, also after reloads. A number becomes a string, as in Segment's
 * analytics.js and as the collector stores it. A string of spaces it refuses (it would name everyone sent
 * with it), and so does this; '' is no id. The length is in UTF-16 units: stricter than the collector's
 * code points only for ids with characters beyond the BMP (emoji), which no real id has.
 */
export const validUserId = (id: unknown): string | undefined =>
  Number.isSafeInteger(id) ? `${id as number}` : typeof id == 'string' && id.trim() && id.length <= maxUserIdLength ? id : undefined;

interface Stored {
  anonymousId?: string;
  /** Anything: what an older version or another script wrote. */
  userId?: unknown;
  traits?: Properties;
  session?: Session;
}

export interface Identity {
  anonymousId: string;
  userId?: string;
  traits: Properties;
  /** The session id for an event at `now`, renewed after inactivity; first takes in what another tab stored. */
  session(now?: number): string;
  /**
   * Sets the user id when it is a {@link validUserId} (else the current one stays) and merges traits, on
   * top of what another tab stored. Returns the id from before (user id, else anonymous id): an alias's
   * previousId.
   */
  setUser(userId: unknown, traits?: Properties): string;
  /** Forgets the user and traits; new anonymous id and session. */
  reset(): void;
  /**
   * Writes the identity to the cookie and localStorage, after taking in what another tab stored since this
   * tab last read or wrote it (consent granted there while this one could not write: its identity).
   */
  save(): void;
  /** Removes both stored copies and starts afresh like {@link Identity.reset}: nothing links what follows to the old id. */
  erase(): void;
  /**
   * An event built earlier (held by a plugin), with the anonymous id of now if it has this tab's id from
   * before it adopted another tab's: consent granted there while this tab held events is one visitor.
   */
  latest<E extends { anonymousId: string }>(event: E): E;
}

export function loadIdentity(cookieDomain?: string): Identity {
  let current: Session | undefined;
  /** localStorage's copy as this tab last read or wrote it: another value there was written by another tab. */
  let seen: string | null | undefined;
  /** This tab's anonymous id before it last adopted the stored one. */
  let replaced: string | undefined;
  /**
   * Takes the identity from localStorage's copy `raw` (none or unreadable: a new one) and, on a new page,
   * the cookie, which comes first: with cookieDomain it is shared by subdomains, whose localStorage is
   * not. Another tab's new copy comes without it: this tab may still read the cookie as it was.
   */
  const load = (raw?: string | null, cookie?: string) => {
    const stored = parseJson<Stored>(raw) ?? {};
    // Whichever copy survived restores the other on the next save.
    identity.anonymousId = cookie ?? stored.anonymousId ?? uuid();
    // One an older version stored unchecked would keep every event in quarantine: forgotten.
    identity.userId = validUserId(stored.userId);
    identity.traits = stored.traits ?? {};
    current = stored.session;
  };
  // A copy removed (by the visitor, or by a consent withdrawal, which erases every tab) is not adopted:
  // this tab's copy restores it.
  const sync = () => {
    const raw = readLocal(storageKey);
    if (raw && raw != seen) {
      replaced = identity.anonymousId;
      load((seen = raw));
    }
  };
  const identity = {
    session(now = Date.now()) {
      sync();
      current = nextSession(current, now);
      return current[0];
    },
    setUser(id, more) {
      sync();
      const previous = identity.userId ?? identity.anonymousId;
      identity.userId = validUserId(id) || identity.userId; // '' is no id either
      identity.traits = { ...identity.traits, ...more };
      return previous;
    },
    reset() {
      sync(); // or the save would adopt what another tab stored before
      load();
    },
    save() {
      sync();
      writeCookie(cookieName, identity.anonymousId, cookieDomain);
      // anonymousId, userId, traits and the session: JSON leaves the methods out. Traits are whatever the
      // page passed: serialised safely (cycles, BigInt) so saving never throws; should even that fail, the
      // stale copy is removed and the cookie restores the anonymous id. Should writing fail (storage
      // full), what stays stored is the browser's identity, adopted at the next use.
      writeLocal(storageKey, (seen = safeJson({ ...identity, session: current })));
    },
    erase() {
      writeCookie(cookieName, '', cookieDomain);
      writeLocal(storageKey);
      load(); // a new identity, as reset()
    },
    latest(event) {
      if (event.anonymousId == replaced) event.anonymousId = identity.anonymousId;
      return event;
    },
  } as Identity; // its values are set by load, below
  load((seen = readLocal(storageKey)), readCookie(cookieName));
  return identity;
}
