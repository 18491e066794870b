-- The rows of the buckets {buckets} of person_events_stored as attribute_person_events.sql reads them,
-- without rows a newer delivery supersedes ({superseded}): the input of a bucket rewrite. LIMIT 1 BY keeps one
-- row per key, so a rewrite also repairs a key appended twice (two job runs at once, which should not happen).
SELECT
    node, message_id, source, original_day, type, event, name, anonymous_id, user_id, timestamp, received_at,
    properties, traits, consent, page_path, page_url, page_referrer, campaign_source, campaign_medium, campaign_name,
    timestamp_ms, batch_position
FROM person_events_stored
WHERE bucket IN {buckets}
  AND (source, message_id, original_day, received_at) NOT IN ({superseded})
LIMIT 1 BY source, message_id, original_day;
