-- The newest delivery of every event key (source, message_id, day of original_timestamp: the key of the
-- events table) with a delivery in {window}, unless person_events_stored already holds that key. The newest
-- delivery of a key is always in the window when any delivery is, so this is what `events FINAL` keeps.
-- received_at has whole seconds: of two deliveries in one second, one with ids is the newer (the consent
-- plugin's cookieless mode sends an event stripped, then again with ids once analytics is granted; never the
-- other way round), as `events FINAL` keeps the one inserted last. superseded_events.sql ranks them alike.
-- A key whose newest delivery is a crawler's ({crawler}: `crawlerDelivery` in collector/warehouse/job-sql.ts) is
-- left out, so it is no person in any view: it stays in events (events_dedup) only.
SELECT
    multiIf(newest.5 != '', concat('user:', newest.5), newest.4 != '', concat('anon:', newest.4), concat('event:', message_id)) AS node,
    message_id, source, original_day,
    newest.1 AS type, newest.2 AS event, newest.3 AS name, newest.4 AS anonymous_id, newest.5 AS user_id,
    newest.6 AS timestamp, last_received AS received_at,
    newest.7 AS properties, newest.8 AS traits, newest.9 AS consent,
    newest.10 AS page_path, newest.11 AS page_url, newest.12 AS page_referrer,
    newest.13 AS campaign_source, newest.14 AS campaign_medium, newest.15 AS campaign_name,
    newest.16 AS timestamp_ms, newest.17 AS batch_position
FROM
(
    SELECT
        source, message_id, toDate(original_timestamp) AS original_day,
        max(received_at) AS last_received,
        argMax(tuple(type, event, name, anonymous_id, user_id, timestamp, properties, traits, consent,
                     page_path, page_url, page_referrer, campaign_source, campaign_medium, campaign_name,
                     timestamp_ms, batch_position, {crawler}),
               toUInt32(received_at) * 2 + (anonymous_id != '' OR user_id != '')) AS newest
    FROM events
    WHERE {window}
    GROUP BY source, message_id, original_day
)
WHERE newest.18 = 0 AND (source, message_id, original_day) NOT IN
(
    SELECT source, message_id, original_day
    FROM person_events_stored
    WHERE message_id IN (SELECT message_id FROM events WHERE {window})
);
