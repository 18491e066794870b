// Turns what identify/alias events carry into identity-graph nodes. Pure.
// Nodes: 'user:<userId>', 'anon:<anonymousId>', 'email:<sha256>', 'phone:<sha256 of E.164>',
// 'phone_digits:<sha256 of the E.164 digits without +>' (the form Yandex Audiences and VK Ads match on).
import { createHash } from 'node:crypto';
import { isPlaceholderId, noBlockedIds, type BlockedIds } from '../../ingest/placeholder-ids';

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Trimmed, lower-cased e-mail, or undefined when it is not one. */
export function normalizeEmail(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const email = value.trim().toLowerCase();
  return /^[^\s@]+@[^\s@]+$/.test(email) ? email : undefined;
}

/**
 * Country codes after which a 0 is part of the national number, not a trunk prefix, so it stays in the
 * international form: Italy and the Vatican (+39, +379), San Marino (+378), Côte d'Ivoire (+225, every
 * number since the 2021 move to 10 digits: mobiles 01/05/07…), Niger (+227, 08/09 numbers), Gabon (+241,
 * mobiles 06/07…), the Republic of the Congo (+242, mobiles 04/05/06…), Eswatini (+268, 0800), and the
 * non-geographic codes (+800, +808, +870, +878, +881, +882, +883, +888, +979). From libphonenumber's metadata:
 * the regions without a national prefix whose national numbers may begin with 0.
 */
const zeroKeptAfter = new Set(['39', '379', '378', '225', '227', '241', '242', '268', '800', '808', '870', '878', '881', '882', '883', '888', '979']);

/** The number with a trunk 0 after its country code dropped, when the code is written apart from the rest. */
function withoutTrunkZero(text: string): string {
  // `(0)`: the trunk prefix marked as such (`+44 (0) 20 …`). Before the brackets go: without them the 0
  // could not be told from the number's own digits.
  const bracketed = text.replace(/^(?:\+|00)(\d{1,3})[\s\-.]*\(0\)/, (whole, code: string) => (zeroKeptAfter.has(code) ? whole : whole.replace(/[\s\-.]*\(0\)$/, '')));
  if (bracketed !== text) return bracketed;
  // A 0 starting the group after a code written apart (`+44 020 …`, `+49-0151…`, `+44 0 20 …`): the national form pasted
  // behind the code. A code written together with the rest (`+44020…`) is left as it is: its length is unknown.
  return text.replace(/^((?:\+|00)(\d{1,3})[\s\-.]+)0(?=[\s\-.]*\d)/, (whole, prefix: string, code: string) => (zeroKeptAfter.has(code) ? whole : prefix));
}

/**
 * E.164 (`+79991234567`), or undefined. A 0 right after the country code is the national trunk prefix,
 * dialled only from inside the country, and is dropped, written as `(0)` (`+44 (0) 20 7183 8750`) or as the
 * first digit of the group after the code (`+44 020 7183 8750`), except after the codes of zeroKeptAfter,
 * whose numbers keep their 0 in international form; then spaces, dashes, dots and brackets are dropped; a
 * leading `00` becomes `+`; an 11-digit number starting with 8 is read as Russian (8 → +7), the trunk-prefix
 * convention of the markets Yandex and VK serve. Numbers without a country code are refused rather than guessed.
 */
export function normalizePhone(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  let phone = withoutTrunkZero(String(value).trim()).replace(/[\s\-().]/g, '');
  if (phone.startsWith('00')) phone = `+${phone.slice(2)}`;
  if (/^8\d{10}$/.test(phone)) phone = `+7${phone.slice(1)}`;
  return /^\+[1-9]\d{6,14}$/.test(phone) ? phone : undefined;
}

/** What one identify/alias event says about identity. */
export interface IdentityFacts {
  type: string;
  anonymousId: string;
  userId: string;
  previousId: string;
  /** The event's traits as stored (compact JSON). */
  traits: string;
}

export interface EventNodes {
  /** Identifiers that always belong to one person together: userId, e-mail, phone (and alias ids). */
  strong: string[];
  /** The device, which follows whoever identified on it (see resolve.ts). */
  device: string | undefined;
  /**
   * A server-side alias's previousId sent without anonymousId: an earlier userId or an anonymous id, no
   * telling which, so it is both a `user:` node (in `strong`) and the device. Named here so that it names
   * the person only if it was also some message's userId (see resolve.ts).
   */
  previous?: string;
}

/**
 * identity_edges keeps a message's nodes, not what each was: `previous` is stored as one more edge with
 * this prefix (never an identifier of events), so the job can rebuild it (job.ts).
 */
export const previousEdgePrefix = 'previous:';

function traitsOf(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const contactsOfList = new WeakMap<BlockedIds, ReadonlySet<string>>();

/**
 * The e-mails and phones (E.164) of the config's blockedIds, normalised as traits' are, so `+7 000 000-00-00` there
 * blocks `8 000 000 00 00` too. Worked out once per list: eventNodes reads it for every message.
 */
function blockedContacts(blocked: BlockedIds): ReadonlySet<string> {
  let contacts = contactsOfList.get(blocked);
  if (contacts === undefined) {
    contacts = new Set([...blocked].flatMap((value) => [normalizeEmail(value), normalizePhone(value)].filter((c): c is string => c !== undefined)));
    contactsOfList.set(blocked, contacts);
  }
  return contacts;
}

/**
 * The graph nodes of one identify or alias event. A placeholder id (placeholder-ids.ts) makes no node: ingest takes
 * them off events, and rows stored before it did must not make one person of everyone who sent "undefined" either.
 * An e-mail or phone on the config's blockedIds (`test@example.com`) makes none either.
 */
export function eventNodes(raw: IdentityFacts, blocked: BlockedIds = noBlockedIds): EventNodes {
  const id = (value: string) => (isPlaceholderId(value, blocked) ? '' : value);
  const facts = { ...raw, anonymousId: id(raw.anonymousId), userId: id(raw.userId), previousId: id(raw.previousId) };
  const strong: string[] = [];
  if (facts.userId) strong.push(`user:${facts.userId}`);
  // alias: previousId is an earlier userId, or the anonymousId (the SDK's alias() before any identify
  // sends previousId = anonymousId): that one is the device node below, not a second user.
  if (facts.type === 'alias' && facts.previousId && facts.previousId !== facts.anonymousId) strong.push(`user:${facts.previousId}`);
  const traits = traitsOf(facts.traits);
  const contacts = blockedContacts(blocked);
  const email = normalizeEmail(traits.email);
  if (email && !contacts.has(email)) strong.push(`email:${sha256(email)}`);
  const phone = normalizePhone(traits.phone);
  if (phone && !contacts.has(phone)) strong.push(`phone:${sha256(phone)}`, `phone_digits:${sha256(phone.slice(1))}`);
  const ambiguous = facts.type === 'alias' && facts.previousId && !facts.anonymousId;
  const deviceId = ambiguous ? facts.previousId : facts.anonymousId;
  const nodes: EventNodes = { strong: [...new Set(strong)], device: deviceId ? `anon:${deviceId}` : undefined };
  if (ambiguous && facts.previousId !== facts.userId) nodes.previous = `user:${facts.previousId}`;
  return nodes;
}

/**
 * Which graph nodes (identity_edges.node, `previous:` ones included) name a placeholder id or an e-mail or phone on the
 * config's blockedIds, as eventNodes would refuse to make them. For edges written before the value was one (by a
 * collector before the rule, or before the value was listed), which must not keep joining everyone who sent it.
 */
export function blockedNodes(blocked: BlockedIds): (node: string) => boolean {
  const hashed = new Set<string>();
  for (const contact of blockedContacts(blocked)) {
    // An e-mail has an @, an E.164 phone never does.
    if (contact.includes('@')) hashed.add(`email:${sha256(contact)}`);
    else hashed.add(`phone:${sha256(contact)}`).add(`phone_digits:${sha256(contact.slice(1))}`);
  }
  return (node) => {
    const named = node.startsWith(previousEdgePrefix) ? node.slice(previousEdgePrefix.length) : node;
    if (named.startsWith('user:') || named.startsWith('anon:')) return isPlaceholderId(named.slice(5), blocked);
    return hashed.has(named);
  };
}

const kindRank: Record<string, number> = { user: 0, email: 1, phone: 2, phone_digits: 3, anon: 4 };

/** Orders nodes so the first of a person's nodes is its person_id: userIds first, devices last. */
export function compareNodes(a: string, b: string): number {
  const ka = kindRank[a.slice(0, a.indexOf(':'))] ?? 9;
  const kb = kindRank[b.slice(0, b.indexOf(':'))] ?? 9;
  return ka !== kb ? ka - kb : a < b ? -1 : a > b ? 1 : 0;
}
