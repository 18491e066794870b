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

-- person_events: deduplicated events with the person they belong to. An event's identifier is its
-- userId, else its anonymousId; a shared device maps to whoever identified on it last before the event.
-- Identifiers the identity job has not seen yet are a person of their own. An event with neither id (the
-- consent policy `strip` stores denied events that way) is a one-event person `event:<message_id>`, so
-- cookieless events never merge into one giant person.
-- (The event time enters the lambda as an array argument: 18.16 loses columns captured by a lambda when
-- an outer query prunes columns.)
DROP TABLE IF EXISTS person_events;
CREATE VIEW person_events AS
SELECT
    if(empty(periods), node, arrayFirst((p, t) -> p.1 <= t, periods, arrayResize([timestamp], length(periods), timestamp)).2) AS person_id,
    message_id, source, type, event, name, anonymous_id, user_id, timestamp, received_at,
    properties, traits, consent, page_path, page_url, page_referrer,
    campaign_source, campaign_medium, campaign_name
FROM
(
    SELECT
        message_id, source, type, event, name, anonymous_id, user_id, timestamp, received_at,
        properties, traits, consent, page_path, page_url, page_referrer,
        campaign_source, campaign_medium, campaign_name,
        multiIf(user_id != '', concat('user:', user_id), anonymous_id != '', concat('anon:', anonymous_id), concat('event:', message_id)) AS node
    FROM events_dedup
)
ANY LEFT JOIN
(
    SELECT identifier AS node, arrayReverseSort(p -> p.1, groupArray((valid_from, person_id))) AS periods
    FROM identities_current
    GROUP BY identifier
) USING node;
