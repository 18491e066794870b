-- person_days_stored counts persons only: an event stored without ids (the consent policy `strip`; node and
-- person_id event:<message_id>) is a person of its own in person_events, and in the rollup it made every
-- stripped event a visitor seen once, in retention cohorts and active counts. The rollup has no person_id to
-- filter on where it is read, so its materialized views leave such events out from now on, and the rows already
-- rolled up are rebuilt without them, one bucket (partition) at a time, as the identity job's bucket rewrites
-- do (collector/warehouse/identity/person-events.ts).
-- Nothing may write person_events_stored meanwhile (an append between the DROP and the CREATE of an MV would miss
-- the rollup; one between the INSERT into the staging table and a REPLACE would be undone in that bucket): the
-- migrator holds the identity and segments job leases while it applies this, and the collectors of this version
-- and later run no job until it is done (collector/warehouse/lease.ts, "Migrations exclude the jobs"); older ones
-- must be stopped first (docs/collector.md). Interrupted, it is run again whole: every statement can be repeated.
DROP TABLE IF EXISTS person_days_mv;

CREATE MATERIALIZED VIEW person_days_mv TO person_days_stored AS
SELECT bucket, node_key, person_key, toDate(timestamp) AS day, count() AS events
FROM person_events_stored
WHERE person_id NOT LIKE 'event:%'
GROUP BY bucket, node_key, person_key, day;

DROP TABLE IF EXISTS person_days_staging_mv;

CREATE MATERIALIZED VIEW person_days_staging_mv TO person_days_staging AS
SELECT bucket, node_key, person_key, toDate(timestamp) AS day, count() AS events
FROM person_events_staging
WHERE person_id NOT LIKE 'event:%'
GROUP BY bucket, node_key, person_key, day;

-- The rollup of every stored row but those, then swapped in per bucket (a bucket without rows in the staging
-- table becomes empty). One read of person_events_stored; the rollup is about 5x smaller than it.
TRUNCATE TABLE person_days_staging;

INSERT INTO person_days_staging
SELECT bucket, node_key, person_key, toDate(timestamp) AS day, count() AS events
FROM person_events_stored
WHERE person_id NOT LIKE 'event:%'
GROUP BY bucket, node_key, person_key, day;

ALTER TABLE person_days_stored REPLACE PARTITION 0 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 1 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 2 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 3 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 4 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 5 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 6 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 7 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 8 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 9 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 10 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 11 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 12 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 13 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 14 FROM person_days_staging;
ALTER TABLE person_days_stored REPLACE PARTITION 15 FROM person_days_staging;

TRUNCATE TABLE person_days_staging;
