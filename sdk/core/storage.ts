// First-party cookie and localStorage access that never throws (storage can be blocked or full).

/** Reads a localStorage key; undefined when missing or when storage is blocked. */
export function readLocal(key: string): string | undefined {
  try {
    return localStorage.getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Writes a localStorage key. */
export function writeLocal(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // blocked or full: the value lives in memory only
  }
}

/** Reads a cookie the SDK wrote (its values are ids: nothing to decode). */
export function readCookie(name: string): string | undefined {
  try {
    return document.cookie.match(`(?:^|; )${name}=([^;]*)`)?.[1] || undefined;
  } catch {
    return undefined;
  }
}

/** A first-party cookie for a year, SameSite=Lax (Secure on https); `value` is an id, safe as is. */
export function writeCookie(name: string, value: string, domain?: string): void {
  try {
    document.cookie = `${name}=${value};path=/;max-age=31536000;samesite=lax${domain ? `;domain=${domain}` : ''}${location.protocol == 'https:' ? ';secure' : ''}`;
  } catch {
    // cookies disabled
  }
}
