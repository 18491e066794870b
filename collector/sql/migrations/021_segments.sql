-- Saved segments and their materialised members (issue 6). Runs on ClickHouse 18.16 and 23.x+.
-- A segment's definition is its JSON rule; a newer version of the same segment_id replaces it.
CREATE TABLE IF NOT EXISTS segments
(
    segment_id  String,
    name        String,
    rule        String,
    created_at  DateTime('UTC'),
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY segment_id;

-- Members of each materialisation run; the newest run of a segment is its current membership.
CREATE TABLE IF NOT EXISTS segment_members
(
    segment_id   String,
    run          UInt64,
    person_id    String,
    computed_at  DateTime('UTC')
)
ENGINE = MergeTree
ORDER BY (segment_id, run, person_id);

-- One row per run: how many members, how many entered and left since the previous run.
CREATE TABLE IF NOT EXISTS segment_runs
(
    segment_id     String,
    run            UInt64,
    computed_at    DateTime('UTC'),
    members        UInt64,
    entered_count  UInt64,
    left_count     UInt64
)
ENGINE = MergeTree
ORDER BY (segment_id, run);
