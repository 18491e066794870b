-- Erasure of a person (GDPR Art. 17, 152-FZ; docs/analytics.md "Erasure (right to be forgotten)"), requested with
-- POST /v1/erasures and carried out by the identity job right after a run (collector/warehouse/erasure.ts).
-- Runs on ClickHouse 18.16 and 23.x+.
--
-- erasures: one row per state of a request; the newest version is its state (pending → running → done).
--   * pending and running rows hold what was asked: `kind` (userId, anonymousId, email, phone), `value` as given
--     (the quarantine is searched for it) and `node`, its identity-graph node;
--   * the done row holds neither: `node_hash` is the SHA-256 of the node (an audit can show that a given identifier
--     was erased, not read it back), `deleted` the rows deleted per table (JSON). The job deletes the earlier rows
--     of a done erasure, so the plain identifier does not outlive it.
CREATE TABLE IF NOT EXISTS erasures
(
    id            String,
    version       UInt64,
    status        String,
    kind          String,
    value         String,
    node          String,
    node_hash     String,
    requested_at  DateTime('UTC'),
    finished_at   DateTime('UTC'),
    deleted       String
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;

-- erasure_targets: what one erasure deletes, written before any DELETE, so that every `ALTER TABLE … DELETE` reads a
-- fixed list (`IN (SELECT … FROM erasure_targets WHERE erasure_id = …)`) and an interrupted erasure deletes the same
-- rows when it is run again. `kind`: person, node, user, anon, message (with its `source`), refusal (`value` a
-- consent_refusals id_hash, `source` its id_kind), quarantine (a JSON string searched in events_quarantine.raw),
-- resolve (a node the next identity run re-resolves), and ready (written last: the list is complete).
-- Emptied for an erasure once it is done.
CREATE TABLE IF NOT EXISTS erasure_targets
(
    erasure_id  String,
    kind        String,
    source      String,
    value       String
)
ENGINE = MergeTree
ORDER BY (erasure_id, kind, value);
