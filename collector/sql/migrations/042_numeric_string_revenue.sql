-- properties.revenue as the segment rules and funnels read numbers (collector/query/conditions.ts, JsonNumberSql;
-- docs/analytics.md, "Numbers sent as strings"): a JSON number, or a JSON string whose whole content is a decimal
-- number ("12.5": PHP, spreadsheets and some GA4 dataLayers send numbers as strings). Before, revenue was
-- visitParamExtractFloat, which reads a number prefix ("12abc" gave 12, "1,000" gave 1), and revenue_given took
-- JSON numbers only, so an Order Refunded with "revenue": "12.5" refunded its whole order, while its revenue said
-- 12.5. Now revenue is that number (0 for anything else) and revenue_given says there is one: conditions.ts's
-- numberTermSql(propertyNumberSql(…)) and its `has`, spelled out (compile.test.ts checks it).
-- New rows get the same expressions from jobs/attribute_person_events.sql (its INSERT is positional). Existing rows:
--   * parts stored before 032_order_ids have no revenue_given data: the new DEFAULT fixes them when read.
--     staging gets it too: REPLACE PARTITION needs the same structure;
--   * rows with a string revenue hold the old readings: an ALTER … UPDATE mutation rewrites them, in the
--     background (18.16 has no mutations_sync; progress in system.mutations): until it is done, those orders and
--     refunds count as before.
ALTER TABLE person_events_stored MODIFY COLUMN revenue_given UInt8 DEFAULT (match(visitParamExtractRaw(properties, 'revenue'), '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(visitParamExtractFloat(properties, 'revenue')));
ALTER TABLE person_events_staging MODIFY COLUMN revenue_given UInt8 DEFAULT (match(visitParamExtractRaw(properties, 'revenue'), '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(visitParamExtractFloat(properties, 'revenue')));
ALTER TABLE person_events_stored UPDATE revenue = if((match(visitParamExtractRaw(properties, 'revenue'), '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(visitParamExtractFloat(properties, 'revenue'))), visitParamExtractFloat(properties, 'revenue'), 0), revenue_given = (match(visitParamExtractRaw(properties, 'revenue'), '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(visitParamExtractFloat(properties, 'revenue'))) WHERE match(visitParamExtractRaw(properties, 'revenue'), '^"');
