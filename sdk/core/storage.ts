// First-party cookie, localStorage and sessionStorage access that never throws (storage can be
// blocked, full or, for a value another script wrote, not JSON). Shared by the core and the plugins.

// `session`: sessionStorage instead of localStorage. Even naming either can throw (blocked storage).

/** Reads a key; null (missing) or undefined (storage blocked) when there is no value. */
export function readLocal(key: string, session?: boolean): string | null | undefined {
  try {
    return (session ? sessionStorage : localStorage).getItem(key);
  } catch {
    // blocked: undefined
  }
}

/** Writes a key; no value (undefined) removes it. */
export function writeLocal(key: string, value?: string, session?: boolean): void {
  try {
    const store = session ? sessionStorage : localStorage;
    value == null ? store.removeItem(key) : store.setItem(key, value);
  } catch {
    // blocked or full: the value lives in memory only
  }
}

/** A stored value's JSON; undefined (or null) when missing (null, undefined) or not JSON. */
export function parseJson<T>(text: string | null | undefined): T | undefined {
  try {
    return JSON.parse(text!); // JSON.parse(undefined) throws, JSON.parse(null) is null: missing
  } catch {
    // not JSON: undefined
  }
}

/** Reads a key holding JSON; undefined (or null) when missing, unreadable or not JSON. */
export const readJson = <T>(key: string, session?: boolean): T | undefined => parseJson(readLocal(key, session));

/** Writes a value as JSON (plain data: what the plugins keep); `undefined` removes the key. */
export function writeJson(key: string, value: unknown, session?: boolean): void {
  writeLocal(key, JSON.stringify(value), session);
}

/** Reads a cookie by its exact name (any name: no regex), as stored (not decoded); undefined when missing or empty. */
export function readCookie(name: string): string | undefined {
  try {
    return `; ${document.cookie}`.split(`; ${name}=`)[1]?.split(';')[0] || undefined;
  } catch {
    // cookies blocked: undefined
  }
}

/** A first-party cookie for a year, SameSite=Lax (Secure on https); `value` is an id, safe as is; `''` deletes it. */
export function writeCookie(name: string, value: string, domain?: string): void {
  try {
    document.cookie = `${name}=${value};path=/;max-age=${value ? 31536000 : 0};samesite=lax${domain ? `;domain=${domain}` : ''}${location.protocol == 'https:' ? ';secure' : ''}`;
  } catch {
    // cookies disabled
  }
}
