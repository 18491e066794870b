// First-party cookie and localStorage access that never throws (storage can be blocked, full or, for a
// value another script wrote, not JSON; even naming localStorage can throw). Shared by the core and the
// plugins.

/** Reads a key; null (missing) or undefined (storage blocked) when there is no value. */
export function readLocal(key: string): string | null | undefined {
  try {
    return localStorage.getItem(key);
  } catch {
    // blocked: undefined
  }
}

/** Writes a key; no value (undefined) removes it. */
export function writeLocal(key: string, value?: string): void {
  try {
    value == null ? localStorage.removeItem(key) : localStorage.setItem(key, value);
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
export const readJson = <T>(key: string): T | undefined => parseJson(readLocal(key));

/** Writes a value as JSON (plain data: what the plugins keep); `undefined` removes the key. */
export function writeJson(key: string, value: unknown): void {
  writeLocal(key, JSON.stringify(value));
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
