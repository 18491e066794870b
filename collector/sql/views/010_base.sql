-- Base views every analyst view reads. Re-created by the migrations runner on every start.
-- Runs on ClickHouse 18.16 and 23.x+. Rule for all views: an alias never reuses a column name of its
-- source (18.16 substitutes aliases into other expressions of the same SELECT).

-- events_dedup: one row per (source, message_id), the newest delivery (highest received_at).
-- Retries of one message share source, message_id and original_timestamp, the whole sorting key of the
-- ReplacingMergeTree, so FINAL collapses them even before background merges have run.
DROP TABLE IF EXISTS events_dedup;
CREATE VIEW events_dedup AS
SELECT *
FROM events FINAL;

-- identities_current: the newest resolution of every identifier (older versions are ignored).
DROP TABLE IF EXISTS identities_current;
CREATE VIEW identities_current AS
SELECT identifier, valid_from, person_id, mapped_at
FROM identities
WHERE (identifier, version) IN (SELECT identifier, max(version) FROM identities GROUP BY identifier);

-- person_events_restated: the stored rows of stale identifiers (stale_nodes: their person changed after the
-- rows were stored), re-attributed with the latest identities by the rule of jobs/attribute_person_events.sql.
-- Small: the identity job's squash rewrites these rows' buckets and empties stale_nodes. (bucket IN … lets
-- ClickHouse skip the partitions without stale identifiers.)
DROP TABLE IF EXISTS person_events_restated;
CREATE VIEW person_events_restated AS
SELECT
    if(empty(periods), node, arrayFirst((p, t) -> p.1 <= t, periods, arrayResize([timestamp], length(periods), timestamp)).2) AS person_id,
    cityHash64(person_id) AS person_key,
    node, node_key, bucket, message_id, source, original_day, type, event, name,
    anonymous_id, user_id, timestamp, received_at, revenue, properties, traits, consent, page_path, page_url,
    page_referrer, campaign_source, campaign_medium, campaign_name, order_id, revenue_given, timestamp_ms, batch_position
FROM
(
    SELECT
        node, node_key, bucket, message_id, source, original_day, type, event, name,
        anonymous_id, user_id, timestamp, received_at, revenue, properties, traits, consent, page_path, page_url,
        page_referrer, campaign_source, campaign_medium, campaign_name, order_id, revenue_given, timestamp_ms, batch_position
    FROM person_events_stored
    WHERE bucket IN (SELECT bucket FROM stale_nodes) AND node_key IN (SELECT node_key FROM stale_nodes)
)
ANY LEFT JOIN
(
    -- identities_current narrowed to the stale identifiers first (identities is sorted by identifier).
    SELECT identifier AS node, arrayReverseSort(p -> p.1, groupArray((valid_from, person_id))) AS periods
    FROM identities
    WHERE identifier IN (SELECT node FROM stale_nodes)
      AND (identifier, version) IN (SELECT identifier, max(version) FROM identities WHERE identifier IN (SELECT node FROM stale_nodes) GROUP BY identifier)
    GROUP BY identifier
) USING node;

-- person_events: every event once (deduplicated at write time) with the person it belongs to: the stored rows
-- of settled identifiers plus person_events_restated. Reads the table person_events_stored, which the identity
-- job appends to on every run (every minute by default): the view reflects events up to the job's last run.
-- Crawlers' events (events.is_bot) are never written there (jobs/fresh_events.sql), so no view reading it, person-
-- level or not, counts them: they are in events_dedup only.
-- Columns: see migrations/030_person_events.sql. An event stored without ids (the consent policy `strip`) is a
-- person of its own, event:<message_id>: it counts here and in the event-count views (events_dedup, web_vitals,
-- survey_responses, cx_*), and every person-level view leaves it out (`person_id NOT LIKE 'event:%'`), as
-- do the funnel builder and the segment compiler. ClickHouse 18.16 does not push an outer WHERE into a view, so
-- the hot views below (and the funnel and segment compilers) repeat these two parts with their filter inside
-- each, which lets the sorting key (event, …) skip what they do not need.
DROP TABLE IF EXISTS person_events;
CREATE VIEW person_events AS
SELECT
    person_id, person_key, node, node_key, bucket, message_id, source, original_day, type, event, name,
    anonymous_id, user_id, timestamp, received_at, revenue, properties, traits, consent, page_path, page_url,
    page_referrer, campaign_source, campaign_medium, campaign_name, order_id, revenue_given, timestamp_ms, batch_position
FROM person_events_stored
WHERE node_key NOT IN (SELECT node_key FROM stale_nodes)
UNION ALL
SELECT * FROM person_events_restated;

-- person_days: events per person and UTC day (person_days_stored for settled identifiers, plus the rows of
-- person_events_restated). Retention reads it: about 5x fewer rows than person_events. Sum `events` per key.
-- Persons only: an event stored without ids (event:<message_id>, see person_events) is not a visitor, and the
-- rollup leaves it out (migrations/036_person_days_persons.sql).
DROP TABLE IF EXISTS person_days;
CREATE VIEW person_days AS
SELECT person_key, day, events
FROM person_days_stored
WHERE node_key NOT IN (SELECT node_key FROM stale_nodes)
UNION ALL
SELECT person_key, toDate(timestamp) AS day, toUInt64(1) AS events
FROM person_events_restated
WHERE person_id NOT LIKE 'event:%';
