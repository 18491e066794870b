// Builds one Segment Spec event from a call and the current identity.
import { browserContext } from './context';
import type { Identity } from './identity';
import type { EventType, TagflowEvent } from './types';
import { uuid } from './uuid';

export type EventFields = Pick<TagflowEvent, 'event' | 'name' | 'properties' | 'traits' | 'groupId' | 'previousId'>;

export function buildEvent(type: EventType, fields: EventFields, identity: Identity, now = new Date()): TagflowEvent {
  const event: TagflowEvent = {
    type,
    messageId: uuid(),
    anonymousId: identity.anonymousId,
    timestamp: now.toISOString(),
    context: browserContext(),
  };
  if (identity.userId) event.userId = identity.userId;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) (event as unknown as Record<string, unknown>)[key] = value;
  }
  return event;
}
