-- The order of a person's events within one second. person_events_stored kept only `timestamp` (whole seconds),
-- so a page view and the track it fires in the same second, or an SPA redirect / → /home, came out in
-- message_id order (a random UUID) in sessions and paths. Views now order a person's events by
-- (timestamp_ms, batch_position, message_id).
--   * events.batch_position: the event's index in its request's batch (0 for the single-event endpoints).
--     Events of one batch share one skew correction, so their equal ms are the ones that tie most; Segment's
--     libraries send a batch in call order (the Tagflow SDK too, but its IndexedDB queue sends events queued in
--     the same ms in messageId order). Rows received before this migration read as 0.
--   * person_events_stored.timestamp_ms / batch_position: copied from events by the identity job
--     (jobs/fresh_events.sql, jobs/attribute_person_events.sql). Rows stored before this migration have no
--     data for them: ClickHouse computes the DEFAULT when it reads them (and writes it when it merges or
--     rewrites their parts), so they keep their second (ms = second · 1000) and, within it, message_id order,
--     as before. The staging twin gets the same columns: REPLACE PARTITION requires the same structure.
-- Added last: the shipper names its columns (collector/warehouse/row-text.ts), the job's INSERT … SELECT is
-- positional. One ALTER per table, so each applies all or nothing.
ALTER TABLE events ADD COLUMN batch_position UInt16 DEFAULT 0;
ALTER TABLE person_events_stored
    ADD COLUMN timestamp_ms UInt64 DEFAULT toUInt64(timestamp) * 1000,
    ADD COLUMN batch_position UInt16 DEFAULT 0;
ALTER TABLE person_events_staging
    ADD COLUMN timestamp_ms UInt64 DEFAULT toUInt64(timestamp) * 1000,
    ADD COLUMN batch_position UInt16 DEFAULT 0;
