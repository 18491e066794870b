-- Identity graph (issue 6). Every statement runs on ClickHouse 18.16 and 23.x+.
-- identity_edges: the identifiers one identify/alias event carried, one row per (node, message).
-- Nodes are 'user:<userId>', 'anon:<anonymousId>', 'email:<sha256>', 'phone:<sha256>'.
-- ReplacingMergeTree: reprocessing an event writes the same key again; readers deduplicate.
CREATE TABLE IF NOT EXISTS identity_edges
(
    message_id   String,
    node         String,
    timestamp    DateTime('UTC'),
    received_at  DateTime('UTC')
)
ENGINE = ReplacingMergeTree(received_at)
ORDER BY (node, message_id);

-- identities: identifier → person from valid_from on. Most identifiers have one row (valid_from = 1970);
-- a shared device (two userIds behind one anonymousId) has one row per switch, so history stays with
-- whoever used it and new events follow the latest identify. Each resolution writes a complete set of
-- rows for an identifier with a higher version; readers use the highest version (identities_current).
CREATE TABLE IF NOT EXISTS identities
(
    identifier   String,
    valid_from   DateTime('UTC'),
    person_id    String,
    mapped_at    DateTime('UTC'),
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (identifier, valid_from);

-- Where each incremental warehouse job got to (received_at of the newest event it has processed).
CREATE TABLE IF NOT EXISTS job_checkpoints
(
    job       String,
    position  DateTime('UTC'),
    version   UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY job;
