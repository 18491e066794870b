-- One userId per person (identity rule 1, docs/analytics.md "Rules"; collector/warehouse/identity/resolve.ts): from
-- this version on, an e-mail or phone never joins two persons that hold different userIds (a shared family or office
-- address, a QA address, an app whose context.traits still hold the previous user's e-mail). Earlier versions merged
-- them. The identity job re-resolves a component whenever a new message touches it; this queues the ones merged
-- before, so they are split without waiting for that: the userIds of every person that holds more than one go to
-- identity_run_nodes with a version above the last completed identity run's, and the next run re-resolves their
-- components as an interrupted run's (docs/analytics.md). Persons joined by an alias also hold two userIds; they
-- resolve as before, at the cost of one re-resolution. Read from the identities table, not identities_current: the
-- views are created after the migrations, and a new database has none yet.
-- Nothing writes identity_run_nodes meanwhile: the migrator holds the identity job's lease (lease.ts, "Migrations
-- exclude the jobs"). Interrupted, it is run again whole: a node queued twice is re-resolved once.
INSERT INTO identity_run_nodes (version, node)
SELECT (SELECT max(version) FROM job_checkpoints WHERE job = 'identity') + 1 AS run_version, identifier
FROM identities
WHERE identifier LIKE 'user:%'
    AND (identifier, version) IN (SELECT identifier, max(version) FROM identities WHERE identifier LIKE 'user:%' GROUP BY identifier)
    AND person_id IN
    (
        SELECT person_id
        FROM identities
        WHERE identifier LIKE 'user:%'
            AND (identifier, version) IN (SELECT identifier, max(version) FROM identities WHERE identifier LIKE 'user:%' GROUP BY identifier)
        GROUP BY person_id
        HAVING uniqExact(identifier) > 1
    );
