// JSON Schema for each Segment event type, compiled once with ajv (the validator Fastify ships), and
// the translation of ajv's errors into reasons a person can act on ("track needs an event name").
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parseClientTime } from './iso-time';

export const eventTypes = ['track', 'page', 'screen', 'identify', 'alias', 'group'] as const;
export type EventType = (typeof eventTypes)[number];

export const maxIdLength = 100;

// Segment's libraries send numeric ids too, and null for "not set".
const id = { type: ['string', 'number', 'null'], maxLength: maxIdLength };
const text = { type: ['string', 'number', 'null'], maxLength: 1000 };
const object = { type: ['object', 'null'] };

const baseProperties = {
  type: { enum: eventTypes },
  messageId: id,
  anonymousId: id,
  userId: id,
  groupId: id,
  previousId: id,
  event: text,
  name: text,
  timestamp: { type: ['string', 'null'], format: 'iso-date' },
  properties: object,
  traits: object,
  context: object,
  integrations: object,
};

/** What each type needs beyond the common fields (Segment Spec). */
const required: Record<EventType, string[]> = {
  track: ['type', 'event'],
  page: ['type'],
  screen: ['type'],
  identify: ['type'],
  alias: ['type', 'userId'],
  group: ['type', 'groupId'],
};

/** The JSON Schema of one event type; exported so docs and tests can show it. */
export function eventSchema(type: EventType): Record<string, unknown> {
  const minLength = Object.fromEntries(required[type].filter((key) => key !== 'type').map((key) => [key, { ...baseProperties[key as keyof typeof baseProperties], type: ['string', 'number'], minLength: 1 }]));
  return { type: 'object', required: required[type], properties: { ...baseProperties, ...minLength } };
}

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
// The same reader that turns the timestamp into the stored time, so what passes here is read as checked.
ajv.addFormat('iso-date', { type: 'string', validate: (value: string) => !Number.isNaN(parseClientTime(value)) });

const validators = Object.fromEntries(eventTypes.map((type) => [type, ajv.compile(eventSchema(type))])) as Record<EventType, ValidateFunction>;

const article = (kind: string) => (/^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`);
const needs: Record<string, string> = { event: 'an event name', userId: 'a userId', groupId: 'a groupId' };

/** Why an event was refused: a stable code (metrics label) and a sentence naming the field. */
export interface Refusal {
  code: string;
  reason: string;
}

/** One ajv error as a refusal. */
export function refusalFor(error: ErrorObject, type: EventType): Refusal {
  const field = error.instancePath.slice(1).replaceAll('/', '.') || 'event';
  switch (error.keyword) {
    case 'required': {
      const missing = String(error.params.missingProperty);
      return { code: 'missing_field', reason: `${type} needs ${needs[missing] ?? article(missing)}` };
    }
    case 'minLength':
      return { code: 'missing_field', reason: `${type} needs ${needs[field] ?? article(field)}` };
    case 'type': {
      const kinds = String(error.params.type).split(',').filter((kind) => kind !== 'null');
      return { code: 'wrong_type', reason: `${field} must be ${article(kinds.includes('string') ? 'string' : (kinds[0] ?? 'value'))}` };
    }
    case 'maxLength':
      return { code: 'too_long', reason: `${field} is longer than ${String(error.params.limit)} characters` };
    case 'format':
      return { code: 'invalid_timestamp', reason: `${field} is not an ISO-8601 date` };
    default:
      return { code: 'invalid', reason: `${field} ${error.message ?? 'is invalid'}` };
  }
}

/** Validates `raw` against the schema of `type`; undefined when valid, else why not. */
export function schemaRefusal(raw: unknown, type: EventType): Refusal | undefined {
  const validate = validators[type];
  if (validate(raw)) return undefined;
  const [error] = validate.errors ?? [];
  return error ? refusalFor(error, type) : { code: 'invalid', reason: 'event is invalid' };
}
