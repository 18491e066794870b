-- person_events_stored: every event once, narrow, with the person it belongs to, written by the identity job
-- (collector/warehouse/identity/person-events.ts) right after it resolves identities. Analysts read the view
-- person_events (views/010_base.sql), which also applies attribution changes not yet squashed (stale_nodes).
-- Runs on ClickHouse 18.16 and 23.x+.
--   * Deduplicated at write time on the events table's key (source, message_id, day of original_timestamp),
--     keeping the newest delivery, so reads need no FINAL.
--   * node: the identifier the event is attributed through (userId, else anonymousId, else event:<message_id>);
--     bucket: cityHash64(node) % 16, the partition. A re-attribution rewrites only the buckets of the nodes it
--     concerns (ALTER TABLE … REPLACE PARTITION … FROM person_events_staging).
--   * person_key = cityHash64(person_id): a UInt64 to GROUP BY (much faster than the string on 18.16).
--   * revenue = properties.revenue as a number (0 when absent); properties stays for filters.
--   * Sorted by event first: funnels, value and segment rules read a few event names.
-- Replaces the person_events view of earlier versions (dropped here once; the identity job backfills the
-- table from events on its first run, as its checkpoint person_events is new).
DROP TABLE IF EXISTS person_events;

CREATE TABLE IF NOT EXISTS person_events_stored
(
    person_id         String,
    person_key        UInt64,
    node              String,
    node_key          UInt64,
    bucket            UInt8,
    message_id        String,
    source            String,
    original_day      Date,
    type              String,
    event             String,
    name              String,
    anonymous_id      String,
    user_id           String,
    timestamp         DateTime('UTC'),
    received_at       DateTime('UTC'),
    revenue           Float64,
    properties        String,
    traits            String,
    consent           String,
    page_path         String,
    page_url          String,
    page_referrer     String,
    campaign_source   String,
    campaign_medium   String,
    campaign_name     String
)
ENGINE = MergeTree
PARTITION BY bucket
ORDER BY (event, person_key, timestamp);

-- Where a re-attribution is built before it replaces buckets of person_events_stored: same structure,
-- partition key and sorting key (REPLACE PARTITION requires it). Empty between runs.
CREATE TABLE IF NOT EXISTS person_events_staging AS person_events_stored;

-- stale_nodes: identifiers whose person changed after some of their events were stored (a device that later
-- logged in, a merge through a new e-mail, a late identify on a shared device). The person_events view
-- re-attributes their rows at read time; the squash rewrites their buckets and empties this table.
CREATE TABLE IF NOT EXISTS stale_nodes
(
    node      String,
    node_key  UInt64 MATERIALIZED cityHash64(node),
    bucket    UInt8 MATERIALIZED toUInt8(cityHash64(node) % 16),
    marked_at DateTime('UTC')
)
ENGINE = MergeTree
ORDER BY node_key;

-- person_days_stored: a rollup of person_events_stored per (identifier, person, UTC day), for retention (5x
-- fewer rows than events). Kept by materialized views on the inserts into person_events_stored (appends) and
-- person_events_staging (bucket rewrites, swapped in with REPLACE PARTITION next to person_events_stored's), so
-- it always holds the same rows' counts. SummingMergeTree collapses rows eventually: read it with GROUP BY.
CREATE TABLE IF NOT EXISTS person_days_stored
(
    bucket      UInt8,
    node_key    UInt64,
    person_key  UInt64,
    day         Date,
    events      UInt64
)
ENGINE = SummingMergeTree
PARTITION BY bucket
ORDER BY (person_key, day, node_key);

CREATE TABLE IF NOT EXISTS person_days_staging AS person_days_stored;

CREATE MATERIALIZED VIEW IF NOT EXISTS person_days_mv TO person_days_stored AS
SELECT bucket, node_key, person_key, toDate(timestamp) AS day, count() AS events
FROM person_events_stored
GROUP BY bucket, node_key, person_key, day;

CREATE MATERIALIZED VIEW IF NOT EXISTS person_days_staging_mv TO person_days_staging AS
SELECT bucket, node_key, person_key, toDate(timestamp) AS day, count() AS events
FROM person_events_staging
GROUP BY bucket, node_key, person_key, day;
