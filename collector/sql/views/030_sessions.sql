-- session_events: every deduplicated event with its person and session number (1, 2, ...): a new session
-- starts after more than 30 minutes (1800 s) without events. Ties in time are ordered by message_id.
DROP TABLE IF EXISTS session_events;
CREATE VIEW session_events AS
SELECT
    person_id,
    session_index,
    e.1 AS event_time,
    e.2 AS message_id,
    e.3 AS type,
    e.4 AS event,
    e.5 AS page_path,
    e.6 AS campaign_source,
    e.7 AS source
FROM
(
    SELECT
        person_id,
        arraySort(x -> (x.1, x.2), groupArray((timestamp, message_id, type, event, page_path, campaign_source, source))) AS evs,
        arrayCumSum(arrayMap((x, i) -> toUInt32(i = 1 OR toUInt32(x.1) - toUInt32(evs[i - 1].1) > 1800), evs, arrayEnumerate(evs))) AS session_numbers
    FROM person_events
    GROUP BY person_id
)
ARRAY JOIN evs AS e, session_numbers AS session_index;

-- sessions: one row per session.
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
    argMinIf(page_path, (event_time, message_id), type = 'page') AS landing_page,
    argMaxIf(page_path, (event_time, message_id), type = 'page') AS exit_page,
    if(countIf(campaign_source != '') = 0, 'direct', argMinIf(campaign_source, (event_time, message_id), campaign_source != '')) AS traffic_source,
    argMin(source, (event_time, message_id)) AS event_source,
    toUInt8(countIf(event = 'Order Completed') > 0) AS converted
FROM session_events
GROUP BY person_id, session_index;
