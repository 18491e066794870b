-- job_leases: who runs each warehouse job (identity, segments) when several collectors share this database, and
-- who applies the migrations (job 'migrations'). The migrations runner runs this file's statement before taking
-- that lease, on databases of any version: it must stay a CREATE TABLE IF NOT EXISTS that any later version reads.
-- A claim is (job, holder, claimed_at); its newest row (highest written_at) says until when it holds
-- (expires_at; 0 once released). The earliest claim still valid wins; renewals keep their claim's claimed_at.
-- Protocol, races and limits: collector/warehouse/lease.ts. Times are epoch milliseconds of the writer's clock
-- (no DateTime64 on 18.16). ReplacingMergeTree collapses a claim's renewals into one row in the background;
-- readers take argMax(expires_at, written_at), so unmerged rows change nothing. Runs on 18.16 and 23.x+.
CREATE TABLE IF NOT EXISTS job_leases
(
    job         String,
    holder      String,
    claimed_at  UInt64,
    expires_at  UInt64,
    written_at  UInt64
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (job, holder, claimed_at);
