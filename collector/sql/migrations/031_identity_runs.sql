-- identity_run_nodes: the nodes each identity-job run starts from (its new events' identifiers), written with
-- the run's version BEFORE the run writes anything else. A run that completes records its version in
-- job_checkpoints (job 'identity'); the next run also re-resolves the nodes of every newer version, so a run
-- interrupted after writing edges (whose events no longer look new) is completed by the next one.
-- Sorted by version: a run reads only the versions after the last completed one. Runs on 18.16 and 23.x+.
CREATE TABLE IF NOT EXISTS identity_run_nodes
(
    version  UInt64,
    node     String
)
ENGINE = MergeTree
ORDER BY version;
