-- Stored rows for which {window} holds a newer delivery of the same key (a retry that reached ClickHouse
-- after the job had stored the first one): they are dropped by a bucket rewrite, and fresh_events.sql then
-- brings in the newest delivery. Deliveries are ranked as there: by received_at, then one with ids first (the
-- same event sent again once consent allows its ids, within the second of its stripped delivery).
SELECT source, message_id, original_day, received_at
FROM person_events_stored
WHERE message_id IN (SELECT message_id FROM events WHERE {window})
  AND (source, message_id, original_day, toUInt32(received_at) * 2 + (anonymous_id != '' OR user_id != '')) NOT IN
  (
      SELECT source, message_id, toDate(original_timestamp), max(toUInt32(received_at) * 2 + (anonymous_id != '' OR user_id != ''))
      FROM events
      WHERE {window}
      GROUP BY source, message_id, toDate(original_timestamp)
  );
