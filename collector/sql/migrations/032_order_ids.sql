-- order_id and revenue_given on person_events_stored (and its staging twin, which REPLACE PARTITION requires to
-- have the same structure): the value views deduplicate orders per person by order_id and let a refund
-- without an amount refund its whole order (views/015_orders.sql). As columns, the per-order grouping reads
-- two narrow columns instead of parsing properties on every query.
--   * order_id: properties.order_id when it is a JSON string ('' otherwise, e.g. absent or a number).
--   * revenue_given: 1 when properties.revenue is a JSON number (an Order Refunded without one is a full refund).
-- Rows stored before this migration have no data for the columns: ClickHouse computes the DEFAULT from
-- properties when it reads them (and writes it when it merges or rewrites their parts), so they are right
-- from the start, without a backfill. New rows get the same expressions from jobs/attribute_person_events.sql.
-- Added last: the job's INSERT … SELECT is positional.
ALTER TABLE person_events_stored ADD COLUMN order_id String DEFAULT visitParamExtractString(properties, 'order_id');
ALTER TABLE person_events_stored ADD COLUMN revenue_given UInt8 DEFAULT match(visitParamExtractRaw(properties, 'revenue'), '^-?[0-9]');
ALTER TABLE person_events_staging ADD COLUMN order_id String DEFAULT visitParamExtractString(properties, 'order_id');
ALTER TABLE person_events_staging ADD COLUMN revenue_given UInt8 DEFAULT match(visitParamExtractRaw(properties, 'revenue'), '^-?[0-9]');
