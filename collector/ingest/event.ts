// Checks one incoming event (Segment Spec shape) and returns it typed, or the reason it is refused.
// Pure: no I/O. The field rules are JSON Schema (schema.ts); size and depth are checked first so a
// hostile event never reaches the schema validator or JSON.stringify's recursion.
import { isPlaceholderId, noBlockedIds, placeholderFields, placeholderPhrase, type BlockedIds, type SentPlaceholders } from './placeholder-ids';
import { eventTypes, schemaRefusal, type EventType, type Refusal } from './schema';

export { eventTypes, maxIdLength, type EventType, type Refusal } from './schema';

type JsonObject = Record<string, unknown>;

/** An event that passed validation. Unknown extra fields are kept in `raw`. */
export interface IncomingEvent {
  type: EventType;
  messageId: string | undefined;
  anonymousId: string;
  userId: string;
  event: string;
  name: string;
  groupId: string;
  previousId: string;
  timestamp: string | undefined;
  properties: JsonObject;
  traits: JsonObject;
  context: JsonObject;
  raw: JsonObject;
  /** The placeholder ids taken off the event (placeholder-ids.ts), as sent; stored as context.blockedIds. */
  blockedIds?: SentPlaceholders;
}

export type Validation = { ok: true; event: IncomingEvent } | ({ ok: false } & Refusal);

/** Deeper than this is refused: no analytics payload needs it, and it protects recursive code downstream. */
export const maxDepth = 32;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when `value` nests objects/arrays deeper than `limit` (iterative, so it cannot overflow the stack). */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  // Two flat stacks rather than a tuple per value: this runs for every event of every request.
  const items: object[] = [value];
  const depths: number[] = [1];
  while (items.length > 0) {
    const item = items.pop() as Record<string, unknown>;
    const depth = depths.pop() as number;
    if (depth > limit) return true;
    for (const key in item) {
      const child = item[key];
      if (typeof child === 'object' && child !== null) {
        items.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

const asText = (value: unknown): string => (typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '');
const asObject = (value: unknown): JsonObject => (isObject(value) ? value : {});

export interface ValidationOptions {
  /** Limit on the event's JSON size; Segment's 32 KB by default. */
  eventBytes?: number;
  /** Segment requires anonymousId or userId; events whose consent denies analytics may carry neither. */
  requireIds?: boolean;
  /** Bytes the event will carry beyond its own JSON (the batch context merged into it), counted toward `eventBytes`. */
  extraBytes?: number;
  /** The config's blockedIds, placeholders besides the built-in ones (placeholder-ids.ts). */
  blockedIds?: BlockedIds;
}

/** The id fields; Segment's libraries may send them as JSON numbers. */
export const idFields = ['messageId', 'anonymousId', 'userId', 'groupId', 'previousId'] as const;

/**
 * A numeric id that JSON.parse may not have read exactly: past 2^53 doubles skip integers, so
 * 12345678901234567891 and 12345678901234567892 both arrive as 12345678901234567000 and two people would
 * become one. Such ids are refused rather than stored as some other id.
 */
export function impreciseIdRefusal(raw: JsonObject): Refusal | undefined {
  for (const field of idFields) {
    const value = raw[field];
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      return {
        code: 'imprecise_id',
        reason: `${field} is a number that is not a safe integer (a whole number of at most ${Number.MAX_SAFE_INTEGER}), so it cannot be read exactly; send it as a string`,
      };
    }
    // An id of spaces names nobody: kept, every visitor identified with "  " would become one person
    // (and every event with messageId "  " one event). Empty counts as absent, as before.
    if (typeof value === 'string' && value !== '' && value.trim() === '') {
      return { code: 'blank_id', reason: `${field} is blank (only spaces); leave it out or send a real id` };
    }
  }
  if (typeof raw.messageId === 'string' && raw.messageId.startsWith(linkMessagePrefix)) {
    return { code: 'reserved_message_id', reason: `messageId may not start with "${linkMessagePrefix}", which the identity graph reserves for its own messages` };
  }
  return undefined;
}

/**
 * The identity graph names a context.traits link's message `context:<sha256 of its nodes>` (identity/job.ts
 * linkMessageId), computable by anyone who knows a customer's userId and e-mail: an identify sent with that id
 * would join the link's message, and its sender, to that customer's person. So no event may carry such an id.
 */
export const linkMessagePrefix = 'context:';

/** Validates one event against its type's schema, the size limit and the id rule. */
export function validateEvent(raw: unknown, { eventBytes = 32 * 1024, requireIds = true, extraBytes = 0, blockedIds = noBlockedIds }: ValidationOptions = {}): Validation {
  if (!isObject(raw)) return { ok: false, code: 'not_an_object', reason: 'event must be a JSON object' };
  const type = raw.type;
  if (typeof type !== 'string' || !(eventTypes as readonly string[]).includes(type)) {
    return { ok: false, code: 'unknown_type', reason: `type must be one of ${eventTypes.join(', ')}` };
  }
  if (nestedDeeperThan(raw, maxDepth)) return { ok: false, code: 'too_deep', reason: `event is nested deeper than ${maxDepth} levels` };
  const bytes = eventBytes === Infinity ? 0 : Buffer.byteLength(JSON.stringify(raw)) + extraBytes;
  if (bytes > eventBytes) {
    return { ok: false, code: 'event_too_large', reason: `event is ${bytes} bytes${extraBytes > 0 ? ' with the batch context' : ''}; at most ${eventBytes} bytes (${eventBytes / 1024} KB) are allowed` };
  }
  const refusal = schemaRefusal(raw, type as EventType);
  if (refusal) return { ok: false, ...refusal };
  const imprecise = impreciseIdRefusal(raw);
  if (imprecise) return { ok: false, ...imprecise };
  const ids = { anonymousId: asText(raw.anonymousId), userId: asText(raw.userId), previousId: asText(raw.previousId) };
  const sent = placeholdersOf(ids, blockedIds);
  if (sent) {
    // The schema saw an alias's userId; it is gone now, and an alias says who the user is.
    if (requireIds && type === 'alias' && sent.userId !== undefined) return { ok: false, code: 'placeholder_id', reason: `${placeholderPhrase(sent, ['userId'])}; alias needs a userId` };
    // Only when a placeholder took the id: a lone placeholder previousId leaves the event as missing_id as it came.
    if (requireIds && !ids.anonymousId && !ids.userId && (sent.anonymousId !== undefined || sent.userId !== undefined)) {
      return { ok: false, code: 'placeholder_id', reason: `${placeholderPhrase(sent, ['anonymousId', 'userId'])}; anonymousId or userId is required` };
    }
  }
  if (requireIds && !ids.anonymousId && !ids.userId) return { ok: false, code: 'missing_id', reason: 'anonymousId or userId is required' };
  return {
    ok: true,
    event: {
      type: type as EventType,
      messageId: asText(raw.messageId) || undefined,
      anonymousId: ids.anonymousId,
      userId: ids.userId,
      event: asText(raw.event),
      name: asText(raw.name),
      groupId: asText(raw.groupId),
      previousId: ids.previousId,
      timestamp: asText(raw.timestamp) || undefined,
      properties: asObject(raw.properties),
      traits: asObject(raw.traits),
      context: asObject(raw.context),
      raw,
      ...(sent ? { blockedIds: sent } : {}),
    },
  };
}

/**
 * Empties the fields of `ids` that hold a placeholder (in place) and returns what they were sent with; undefined
 * when none did (almost always).
 */
function placeholdersOf(ids: Record<(typeof placeholderFields)[number], string>, blockedIds: BlockedIds): SentPlaceholders | undefined {
  let sent: SentPlaceholders | undefined;
  for (const field of placeholderFields) {
    if (!isPlaceholderId(ids[field], blockedIds)) continue;
    sent = { ...sent, [field]: ids[field] };
    ids[field] = '';
  }
  return sent;
}
