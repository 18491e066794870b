-- Crawlers are no persons. A crawler that renders pages (Googlebot, headless Chrome) runs the site's tag like a
-- shopper; the collector flags its events (events.is_bot, collector/ingest/user-agent.ts). From this version on
-- the identity job writes no crawler's event to person_events_stored (jobs/fresh_events.sql) and no crawler's
-- identify or alias to the identity graph (identity/job.ts), so no view, funnel or segment counts them and their
-- logins merge no one; they stay in events (events_dedup). This removes what earlier versions stored of them, and
-- what was derived from it: the person_days rollup and the identities their identify/alias events made.
-- A crawler's event is an event key (identify/alias: a message) whose newest delivery is flagged, by the rule of
-- jobs/fresh_events.sql: `is_bot = 1 AND (library_name != '' OR user_agent LIKE 'Mozilla/%')`. Rows written
-- before this version also flagged scripts and servers that name no library (curl, Node's fetch: a shop's backend
-- sending its orders); the user agent test keeps those.
-- Nothing writes these tables meanwhile: the migrator holds the identity and segments job leases while it applies
-- this, and the collectors of this version and later give their jobs up to it and run none until it is done
-- (collector/warehouse/lease.ts, "Migrations exclude the jobs"). Collectors from before those leases are not held
-- off: they must be stopped, or have their job intervals at 0, before an upgraded one starts (docs/collector.md).
-- Interrupted, it is run again whole: every statement can be repeated.

-- 1. The identity graph. The nodes of crawlers' identify/alias messages go to identity_run_nodes with a version
-- above the last completed identity run's, so the next run re-resolves their components as an interrupted run's
-- (docs/analytics.md): without the crawler's edges, a customer it had logged in as is on their own again, and an
-- identifier left without edges (the crawler's device and account) is its own person again (identity/job.ts).
-- Before the edges go: they name the nodes.
INSERT INTO identity_run_nodes (version, node)
SELECT (SELECT max(version) FROM job_checkpoints WHERE job = 'identity') + 1 AS run_version, node
FROM identity_edges
WHERE message_id IN
(
    SELECT message_id
    FROM events
    WHERE type IN ('identify', 'alias') AND message_id IN (SELECT message_id FROM events WHERE is_bot = 1 AND type IN ('identify', 'alias'))
    GROUP BY message_id
    HAVING argMax(is_bot = 1 AND (library_name != '' OR user_agent LIKE 'Mozilla/%'), received_at) = 1
);

-- identity_edges without those messages, swapped in whole (it has one partition; REPLACE is atomic).
DROP TABLE IF EXISTS identity_edges_staging;

CREATE TABLE identity_edges_staging AS identity_edges;

INSERT INTO identity_edges_staging
SELECT *
FROM identity_edges
WHERE message_id NOT IN
(
    SELECT message_id
    FROM events
    WHERE type IN ('identify', 'alias') AND message_id IN (SELECT message_id FROM events WHERE is_bot = 1 AND type IN ('identify', 'alias'))
    GROUP BY message_id
    HAVING argMax(is_bot = 1 AND (library_name != '' OR user_agent LIKE 'Mozilla/%'), received_at) = 1
);

ALTER TABLE identity_edges REPLACE PARTITION tuple() FROM identity_edges_staging;

DROP TABLE identity_edges_staging;

-- 2. person_events_stored and its rollup person_days_stored: every stored row but crawlers' events, written to the
-- staging tables (person_days_staging_mv rolls them up), then swapped in bucket by bucket, the rollup first, as the
-- identity job's bucket rewrites do (identity/person-events.ts). A copy of the table: 2.8 s at 1M events.
-- order_id is computed again, by the expression of jobs/attribute_person_events.sql: migration 035's UPDATE may
-- still be running in the background, and the parts swapped in are new ones, which it would not rewrite.
TRUNCATE TABLE person_events_staging;

TRUNCATE TABLE person_days_staging;

INSERT INTO person_events_staging
(
    person_id, person_key, node, node_key, bucket, message_id, source, original_day, type, event, name,
    anonymous_id, user_id, timestamp, received_at, revenue, properties, traits, consent, page_path, page_url,
    page_referrer, campaign_source, campaign_medium, campaign_name, order_id, revenue_given, timestamp_ms, batch_position
)
SELECT
    person_id, person_key, node, node_key, bucket, message_id, source, original_day, type, event, name,
    anonymous_id, user_id, timestamp, received_at, revenue, properties, traits, consent, page_path, page_url,
    page_referrer, campaign_source, campaign_medium, campaign_name,
    if(match(visitParamExtractRaw(properties, 'order_id'), '^-?[0-9]'), visitParamExtractRaw(properties, 'order_id'), '') ||
    visitParamExtractString(properties, 'order_id') AS order_text,
    revenue_given, timestamp_ms, batch_position
FROM person_events_stored
WHERE (source, message_id, original_day) NOT IN
(
    SELECT source, message_id, toDate(original_timestamp) AS day_of_key
    FROM events
    WHERE message_id IN (SELECT message_id FROM events WHERE is_bot = 1)
    GROUP BY source, message_id, day_of_key
    HAVING argMax(is_bot = 1 AND (library_name != '' OR user_agent LIKE 'Mozilla/%'), toUInt32(received_at) * 2 + (anonymous_id != '' OR user_id != '')) = 1
);

ALTER TABLE person_days_stored REPLACE PARTITION 0 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 0 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 1 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 1 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 2 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 2 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 3 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 3 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 4 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 4 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 5 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 5 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 6 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 6 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 7 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 7 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 8 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 8 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 9 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 9 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 10 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 10 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 11 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 11 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 12 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 12 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 13 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 13 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 14 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 14 FROM person_events_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 15 FROM person_days_staging;
ALTER TABLE person_events_stored REPLACE PARTITION 15 FROM person_events_staging;

TRUNCATE TABLE person_events_staging;

TRUNCATE TABLE person_days_staging;
