// The record of a "reject all" whose event loses its ids. An event whose consent denies analytics is stored
// without its ids (consent policy `strip`) or not at all (`drop`), so a marketing refusal sent with it would reach
// no person, and the exports to ad platforms would keep sending someone who granted earlier or never decided.
// What is kept is the least that honouring the refusal needs (migrations/041_consent_refusals.sql): the hash of
// one id, its kind, and the day the collector received it. Pure: the rows go to the spool with the request's events.
import type { ConsentRefusalRow } from '../warehouse/events';
import { sha256 } from '../warehouse/identity/identifiers';
import { marketingConsentKeys } from '../query/export';
import { isDenial } from './consent';
import { isObject } from './event';
import { wellFormed } from './normalize';
import { isPlaceholderId, noBlockedIds, type BlockedIds } from './placeholder-ids';

/**
 * ASCII lower case: the export compares the stored consent lower-cased by ClickHouse's lower(), which changes
 * A–Z only, so a key matches here exactly when it matches there.
 */
const asciiLower = (text: string): string => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

/**
 * The consent keys that speak for marketing to the exports (query/export.ts: marketingConsentKeys and the
 * consent tool's ids), lower-cased as they compare them. `sourceIds`: the source's `marketingConsentIds`. Ids an
 * export names only in its request are not known at ingest: name them in the source's config.
 */
export function marketingKeys(sourceIds: readonly string[] = []): ReadonlySet<string> {
  return new Set([...marketingConsentKeys, ...sourceIds].map(asciiLower));
}

/**
 * True when the consent (as applied: the object whose JSON the `consent` column gets) has, at any depth, a key
 * among `keys` whose value denies (isDenial): what the export's consentStatusSql reads as `denied` in the stored
 * JSON. Walked with a stack, not recursion: the event may be one refused for nesting too deeply.
 */
export function deniesMarketing(consent: unknown, keys: ReadonlySet<string>): boolean {
  const pending: unknown[] = [consent];
  while (pending.length > 0) {
    const value = pending.pop();
    if (Array.isArray(value)) {
      for (const item of value) if (typeof item === 'object' && item !== null) pending.push(item);
      continue;
    }
    if (!isObject(value)) continue;
    for (const key of Object.keys(value)) {
      const child = value[key];
      if (keys.has(asciiLower(key)) && isDenial(child)) return true;
      if (typeof child === 'object' && child !== null) pending.push(child);
    }
  }
  return false;
}

/**
 * An id as the `events` columns store it and the identity graph names it (identifiers.ts: `user:<userId>`, not
 * trimmed): a string as sent (lone surrogates as U+FFFD, as the spool's UTF-8 writes them), a safe integer as its
 * digits. Undefined for what no stored event can carry (validation refuses a blank id or an imprecise number) and
 * for anything else: such an id is no node, so a record of it could never be matched. Undefined for a placeholder
 * (placeholder-ids.ts) too: ingest takes it off the event, and the identity graph makes no node of it.
 */
export function graphId(value: unknown, blocked: BlockedIds = noBlockedIds): string | undefined {
  const id = typeof value === 'string' ? (value.trim() === '' ? undefined : wellFormed(value)) : typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : undefined;
  return id === undefined || isPlaceholderId(id, blocked) ? undefined : id;
}

/** The receive day, UTC, as a Date column reads it. */
export const refusalDay = (receivedAt: number): string => new Date(receivedAt).toISOString().slice(0, 10);

/**
 * True for an event of the Tagflow browser SDK (sdk/core/context.ts names its library `tagflow`). Its consent
 * plugin sends a visitor's events before a decision and after a denial cookieless: with a per-page anonymousId,
 * never the device's, and with analytics and marketing `false` while undecided. A device record of such an id
 * would match no node, and there would be one per page view of every undecided or refusing visitor.
 */
function perPageDevice(context: Record<string, unknown>): boolean {
  return isObject(context.library) && context.library.name === 'tagflow';
}

/**
 * The record of one event whose ids the consent policy removes, or undefined when its applied consent denies no
 * marketing key or it carries no usable id. `raw`: the event as sent, valid or not (a refusal counts whatever else
 * is wrong with the event); `context`: its context merged with its batch's. Its userId when it has one; its
 * anonymousId only without a userId: a login on a shared device carries the device of the previous owner, who
 * must not inherit the new person's refusal.
 */
export function consentRefusal(
  raw: unknown,
  context: Record<string, unknown>,
  appliedConsent: unknown,
  receivedAt: number,
  keys: ReadonlySet<string>,
  blocked: BlockedIds = noBlockedIds,
): ConsentRefusalRow | undefined {
  if (!isObject(raw) || !deniesMarketing(appliedConsent, keys)) return undefined;
  // A placeholder userId ("undefined") names no one: the device is the visitor who refused.
  const userId = graphId(raw.userId, blocked);
  const anonymousId = userId === undefined && !perPageDevice(context) ? graphId(raw.anonymousId, blocked) : undefined;
  const id = userId ?? anonymousId;
  if (id === undefined) return undefined;
  return { id_hash: sha256(id), id_kind: userId === undefined ? 'anon' : 'user', refused_on: refusalDay(receivedAt) };
}
