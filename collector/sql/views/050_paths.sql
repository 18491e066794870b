-- session_paths: the steps of each session in event order (views/030_sessions.sql): 'page <path>' for page
-- views, the event name for track events (Web Vitals left out), plus where the first Order Completed is (0: none).
DROP TABLE IF EXISTS session_paths;
CREATE VIEW session_paths AS
SELECT
    person_id,
    session_index,
    steps,
    arrayFirstIndex(s -> s = 'Order Completed', steps) AS conversion_index,
    has(steps, 'Product Added') AS added_to_cart
FROM
(
    SELECT
        person_id,
        session_index,
        arrayMap(x -> x.3, arraySort(x -> (x.1, x.2), groupArray((event_order, message_id, if(type = 'page', concat('page ', page_path), event))))) AS steps
    FROM session_events
    WHERE type IN ('page', 'track') AND event != 'Web Vitals'
    GROUP BY person_id, session_index
);

-- paths_to_conversion: the (up to) 4 steps before a session's first Order Completed, most common first.
DROP TABLE IF EXISTS paths_to_conversion;
CREATE VIEW paths_to_conversion AS
SELECT path, count() AS sessions
FROM
(
    SELECT arrayStringConcat(arraySlice(steps, greatest(1, toInt64(conversion_index) - 4), toInt64(conversion_index) - greatest(1, toInt64(conversion_index) - 4)), ' > ') AS path
    FROM session_paths
    WHERE conversion_index > 0
)
GROUP BY path
ORDER BY sessions DESC, path;

-- paths_to_dropoff: the last 4 steps of sessions that added to the cart but did not order.
DROP TABLE IF EXISTS paths_to_dropoff;
CREATE VIEW paths_to_dropoff AS
SELECT path, count() AS sessions
FROM
(
    SELECT arrayStringConcat(arraySlice(steps, -4), ' > ') AS path
    FROM session_paths
    WHERE added_to_cart AND conversion_index = 0
)
GROUP BY path
ORDER BY sessions DESC, path;

-- paths_after_landing: the first 4 steps of every session.
DROP TABLE IF EXISTS paths_after_landing;
CREATE VIEW paths_after_landing AS
SELECT path, count() AS sessions
FROM
(
    SELECT arrayStringConcat(arraySlice(steps, 1, 4), ' > ') AS path
    FROM session_paths
)
GROUP BY path
ORDER BY sessions DESC, path;
