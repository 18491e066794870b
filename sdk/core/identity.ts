// The device's anonymous id and the known user id, kept across page loads.
import { uuid } from './uuid';

const anonymousKey = 'tf_aid';
const userKey = 'tf_uid';

function read(key: string): string | undefined {
  try {
    return localStorage.getItem(key) ?? undefined;
  } catch {
    return undefined; // storage blocked: identity lives for this page only
  }
}

function write(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // storage blocked or full; keep going without persistence
  }
}

export interface Identity {
  anonymousId: string;
  userId?: string;
}

export function loadIdentity(): Identity {
  let anonymousId = read(anonymousKey);
  if (!anonymousId) {
    anonymousId = uuid();
    write(anonymousKey, anonymousId);
  }
  const userId = read(userKey);
  return userId ? { anonymousId, userId } : { anonymousId };
}

export function saveUserId(userId: string): void {
  write(userKey, userId);
}
