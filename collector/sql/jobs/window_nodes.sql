-- The identity-graph node of every delivery in {window} (userId, else anonymousId, else event:<message_id>):
-- the identifiers whose identities fresh_events.sql needs, without deduplicating the events first.
SELECT multiIf(user_id != '', concat('user:', user_id), anonymous_id != '', concat('anon:', anonymous_id), concat('event:', message_id))
FROM events
WHERE {window};
