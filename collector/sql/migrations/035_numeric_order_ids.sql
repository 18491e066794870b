-- A JSON number order_id counts as its decimal text: {"order_id":1234} (what many server-side libraries send;
-- Segment and RudderStack accept it) is the same order as {"order_id":"1234"}. Before, order_id was
-- visitParamExtractString only, so a number gave '': such an order was never deduplicated and its refunds
-- matched nothing. properties is JSON.stringify's output (collector/ingest/normalize.ts), so a number's raw text
-- is what JavaScript's String(n) gives, e.g. 1234, not 1234.0.
-- The number's text and the string's: at most one of the two is non-empty. New rows get the same expression from
-- jobs/attribute_person_events.sql (its INSERT is positional). Existing rows:
--   * parts stored before 032_order_ids have no order_id data: their DEFAULT is computed when read, so the new
--     DEFAULT fixes them at once. staging gets it too: REPLACE PARTITION needs the same structure;
--   * rows the job wrote since 032 hold '' for a numeric order_id: an ALTER … UPDATE mutation rewrites them.
--     It runs in the background (18.16 has no mutations_sync; progress in system.mutations): until it is done,
--     those orders count as before. On 18.16 it rewrites every part of person_events_stored once.
ALTER TABLE person_events_stored MODIFY COLUMN order_id String DEFAULT if(match(visitParamExtractRaw(properties, 'order_id'), '^-?[0-9]'), visitParamExtractRaw(properties, 'order_id'), '') || visitParamExtractString(properties, 'order_id');
ALTER TABLE person_events_staging MODIFY COLUMN order_id String DEFAULT if(match(visitParamExtractRaw(properties, 'order_id'), '^-?[0-9]'), visitParamExtractRaw(properties, 'order_id'), '') || visitParamExtractString(properties, 'order_id');
ALTER TABLE person_events_stored UPDATE order_id = visitParamExtractRaw(properties, 'order_id') WHERE order_id = '' AND match(visitParamExtractRaw(properties, 'order_id'), '^-?[0-9]');
