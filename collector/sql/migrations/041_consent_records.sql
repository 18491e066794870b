-- consent_records: the refusals of analytics, kept so that they can be honoured (docs/collector.md, "Server-side
-- consent"; docs/analytics.md, "Query API"). An event whose consent denies analytics loses its ids at ingest
-- (consent policy `strip`) or is not stored at all (`drop`), so its consent never reaches the person it came
-- from: someone who granted marketing and later rejected everything would still be exported to ad platforms.
-- The collector writes one row here per id such an event carried, through the spool like the events, before the
-- ids are stripped or the event dropped. Pseudonymous: never the id itself, only its SHA-256.
--   * id_hash: lower-case SHA-256 hex of the userId (id_kind 'user') or the anonymousId ('anon'), as sent; the
--     export matches it with the person's identity nodes `user:<userId>` and `anon:<anonymousId>`.
--   * timestamp, timestamp_ms, batch_position: the event's time as its row would store it, and its index in its
--     batch, so a refusal and an event of the same person are ordered as person_events orders events.
--   * consent: the consent as applied (JSON, as the events' `consent` column: analytics denied, the rest as sent).
--   * message_id: the event's, for telling a redelivery from another record (readers take the newest by time).
-- A row per id for every event that denies analytics (a client that ignores consent sends each page view of a
-- refusing visitor with the denial, so it grows with them); exports read only their members' hashes, by id_hash,
-- the first key of its sorting order.
CREATE TABLE IF NOT EXISTS consent_records
(
    id_hash         String,
    id_kind         String,
    timestamp       DateTime('UTC'),
    timestamp_ms    UInt64,
    batch_position  UInt16,
    source          String,
    consent         String,
    message_id      String,
    received_at     DateTime('UTC')
)
ENGINE = ReplacingMergeTree(received_at)
ORDER BY (id_hash, id_kind, timestamp_ms, batch_position, message_id);
