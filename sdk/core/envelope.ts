// Builds one Segment Spec event from a call and the current identity.
import type { EventContext, EventType, TagflowEvent } from './types';
import { uuid } from './uuid';

export type EventFields = Pick<TagflowEvent, 'event' | 'name' | 'properties' | 'traits' | 'groupId' | 'previousId'>;

/** Who the event is about, as the identity module knows it now. */
export interface EventIdentity {
  anonymousId: string;
  userId?: string;
}

/** The event; fields left undefined (no user id, no name) do not appear in its JSON. */
export function buildEvent(type: EventType, fields: EventFields, identity: EventIdentity, context: EventContext, now = new Date()): TagflowEvent {
  return { type, messageId: uuid(), anonymousId: identity.anonymousId, userId: identity.userId, timestamp: now.toISOString(), context, ...fields };
}
