// Placeholder ids: values a broken or hard-coded client sends where an id should be (`identify(String(user.id))` with
// user.id undefined, a mobile app's zero UUID, QA's "abc123"). Stored as ids they would make one person of every
// customer who sent them, so ingest takes them off the event and the identity job makes no node of them (Segment
// Unify's "blocked values"). Pure.

/** The config's blockedIds, each trimmed and lower-cased (see blockedIdSet). */
export type BlockedIds = ReadonlySet<string>;

/** Values that are never an id, compared after trimming and lower-casing. */
export const builtInPlaceholders: readonly string[] = ['null', 'undefined', 'nil', 'none', 'nan', 'anonymous', 'unknown', '[object object]', '-1'];

const builtIn = new Set(builtInPlaceholders);
/** Zeros and dashes only: `0`, `-`, the zero UUID (Segment's suggested `^[0-]*$`). */
const zerosAndDashes = /^[0-]+$/;

/** How a value is compared with the placeholders and the config's list. */
export const blockedKey = (value: string): string => value.trim().toLowerCase();

/** The config's blockedIds as the set the checks read. */
export function blockedIdSet(values: readonly string[] = []): BlockedIds {
  return new Set(values.map(blockedKey));
}

export const noBlockedIds: BlockedIds = new Set();

/** Whether an id (userId, anonymousId, previousId) is a placeholder: built in, or on the config's list. '' is no id at all. */
export function isPlaceholderId(value: string, blocked: BlockedIds = noBlockedIds): boolean {
  if (value === '') return false;
  const key = blockedKey(value);
  return builtIn.has(key) || zerosAndDashes.test(key) || blocked.has(key);
}

/** The id fields a placeholder is taken off (groupId names a company, never a person: no identity node is made of it). */
export const placeholderFields = ['anonymousId', 'userId', 'previousId'] as const;
export type PlaceholderField = (typeof placeholderFields)[number];

/** What an event was sent with in the fields whose placeholders were taken off (stored as context.blockedIds). */
export type SentPlaceholders = Partial<Record<PlaceholderField, string>>;

/** `userId "undefined" is a placeholder, not an id` (or the plural for several), for a refusal's reason. */
export function placeholderPhrase(sent: SentPlaceholders, fields: readonly PlaceholderField[]): string {
  const named = fields.filter((field) => sent[field] !== undefined).map((field) => `${field} ${JSON.stringify(sent[field])}`);
  return named.length === 1 ? `${named.join('')} is a placeholder, not an id` : `${named.join(' and ')} are placeholders, not ids`;
}
