-- erasure_targets.day: the day of original_timestamp of a `message` target (collector/warehouse/erasure.ts). The
-- events table's key is (source, day, message_id), and clients choose message ids: the same id on another day
-- (a backend numbering its own events) is another event, maybe another person's, which an erasure matching on
-- (source, message_id) alone deleted too. Other kinds leave it at its zero. Runs on ClickHouse 18.16 and 23.x+.
ALTER TABLE erasure_targets ADD COLUMN day Date;
