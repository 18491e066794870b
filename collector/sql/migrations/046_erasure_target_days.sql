-- erasure_targets.day: the day of original_timestamp of a `message` target (collector/warehouse/erasure.ts). The
-- events table's key is (source, day, message_id), and clients choose message ids: the same id on another day
-- (a backend numbering its own events) is another event, maybe another person's, which an erasure matching on
-- (source, message_id) alone deleted too. Other kinds leave it at its zero. A kind added with it: edge_message, a
-- message of identity_edges deleted whole (the person's identify, alias or context link). Runs on 18.16 and 23.x+.
ALTER TABLE erasure_targets ADD COLUMN day Date;
