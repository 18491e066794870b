// Checks one incoming event (Segment Spec shape) and returns it typed, or the reason it is refused.
// Pure: no I/O, so the rules are easy to read and test.

export const eventTypes = ['track', 'page', 'screen', 'identify', 'alias', 'group'] as const;
export type EventType = (typeof eventTypes)[number];

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
}

export type Validation = { ok: true; event: IncomingEvent } | { ok: false; reason: string };

export const maxIdLength = 100;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads optional fields, remembering the first problem instead of throwing. */
function fieldReader(raw: JsonObject) {
  let problem: string | undefined;
  const string = (key: string): string => {
    const value = raw[key];
    if (value === undefined || value === null) return '';
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    if (typeof value === 'string') return value;
    problem ??= `${key} must be a string`;
    return '';
  };
  const object = (key: string): JsonObject => {
    const value = raw[key];
    if (value === undefined || value === null) return {};
    if (isObject(value)) return value;
    problem ??= `${key} must be an object`;
    return {};
  };
  return { string, object, problem: () => problem };
}

export function validateEvent(raw: unknown): Validation {
  if (!isObject(raw)) return { ok: false, reason: 'event must be a JSON object' };
  const type = raw.type;
  if (typeof type !== 'string' || !(eventTypes as readonly string[]).includes(type)) {
    return { ok: false, reason: `type must be one of ${eventTypes.join(', ')}` };
  }
  const read = fieldReader(raw);
  const s = {
    messageId: read.string('messageId'),
    anonymousId: read.string('anonymousId'),
    userId: read.string('userId'),
    event: read.string('event'),
    name: read.string('name'),
    groupId: read.string('groupId'),
    previousId: read.string('previousId'),
    timestamp: read.string('timestamp'),
  };
  const o = { properties: read.object('properties'), traits: read.object('traits'), context: read.object('context') };
  const problem = read.problem();
  if (problem) return { ok: false, reason: problem };
  if (!s.anonymousId && !s.userId) return { ok: false, reason: 'anonymousId or userId is required' };
  for (const key of ['messageId', 'anonymousId', 'userId'] as const) {
    if (s[key].length > maxIdLength) return { ok: false, reason: `${key} is longer than ${maxIdLength} characters` };
  }
  if (type === 'track' && !s.event) return { ok: false, reason: 'track needs an event name' };
  if (type === 'alias' && !s.userId) return { ok: false, reason: 'alias needs a userId' };
  if (type === 'group' && !s.groupId) return { ok: false, reason: 'group needs a groupId' };
  if (s.timestamp && Number.isNaN(Date.parse(s.timestamp))) return { ok: false, reason: 'timestamp is not an ISO-8601 date' };
  return {
    ok: true,
    event: {
      type: type as EventType,
      messageId: s.messageId || undefined,
      anonymousId: s.anonymousId,
      userId: s.userId,
      event: s.event,
      name: s.name,
      groupId: s.groupId,
      previousId: s.previousId,
      timestamp: s.timestamp || undefined,
      properties: o.properties,
      traits: o.traits,
      context: o.context,
      raw,
    },
  };
}
