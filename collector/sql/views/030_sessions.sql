-- session_events: every deduplicated event with its person and session number (1, 2, ...): a new session
-- starts after more than 30 minutes (1800 s) without events. An event's session number is the count of its
-- person's session start times (whole seconds) at or before it: events in one second never split a session,
-- so each session is a run of the person's events in event order. Only the times are gathered per person (the
-- right side), so memory stays small at 10M events; each event then looks up its person's session starts.
-- Event order, here and in the views reading this one: (event_order, message_id), where event_order is
-- timestamp_ms · 65536 + batch_position (a UInt16, so it stays within its ms; one UInt64 to compare is ~6%
-- faster at 1M events than the three columns). The ms (skew-corrected, see migrations/034_event_order.sql)
-- order events within a second, such as a page view and the track it fires, or an SPA redirect; the position in
-- the client's batch orders those within one ms; message_id only makes the rest deterministic.
-- (The event time enters the lambda as an array argument: 18.16 loses columns captured by a lambda when an
-- outer query prunes columns.) An event stored without ids (event:<message_id>, views/010_base.sql) is not a
-- visit: it is left out here, so in sessions and the path views too (the right side needs no filter: only the
-- left side's persons look it up).
DROP TABLE IF EXISTS session_events;
CREATE VIEW session_events AS
SELECT
    person_id,
    arrayCount((s, t) -> s <= t, starts, arrayResize([toUInt32(event_time)], length(starts), toUInt32(event_time))) AS session_index,
    event_time,
    event_order,
    message_id,
    type,
    event,
    page_path,
    campaign_source,
    source
FROM
(
    SELECT person_id, person_key, timestamp AS event_time, timestamp_ms * 65536 + batch_position AS event_order, message_id, type, event, page_path, campaign_source, source
    FROM person_events
    WHERE person_id NOT LIKE 'event:%'
)
ANY LEFT JOIN
(
    SELECT
        person_key,
        arraySort(groupArray(toUInt32(timestamp))) AS times,
        arrayFilter((t, i) -> i = 1 OR t - times[i - 1] > 1800, times, arrayEnumerate(times)) AS starts
    FROM person_events
    GROUP BY person_key
) USING person_key;

-- sessions: one row per session. First and last are in event order (see session_events).
DROP TABLE IF EXISTS sessions;
CREATE VIEW sessions AS
SELECT
    person_id,
    session_index,
    concat(person_id, '#', toString(session_index)) AS session_id,
    min(event_time) AS session_start,
    max(event_time) AS session_end,
    toUInt32(max(event_time)) - toUInt32(min(event_time)) AS duration_seconds,
    count() AS events,
    argMinIf(page_path, (event_order, message_id), type = 'page') AS landing_page,
    argMaxIf(page_path, (event_order, message_id), type = 'page') AS exit_page,
    if(countIf(campaign_source != '') = 0, 'direct', argMinIf(campaign_source, (event_order, message_id), campaign_source != '')) AS traffic_source,
    argMin(source, (event_order, message_id)) AS event_source,
    toUInt8(countIf(event = 'Order Completed') > 0) AS converted
FROM session_events
GROUP BY person_id, session_index;
