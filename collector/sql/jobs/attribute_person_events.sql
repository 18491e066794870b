-- Writes events to {target} (person_events_stored, or person_events_staging for a bucket rewrite) with the
-- person each belongs to at the identity job's latest resolution. {rows} yields the event columns plus `node`
-- (userId, else anonymousId, else event:<message_id>); {nodes} yields (at least) those nodes, cheaply; see
-- collector/warehouse/identity/person-events.ts.
-- A shared device maps to whoever identified on it last before the event; identifiers the job has not seen
-- are a person of their own. The view person_events (views/010_base.sql) applies the same rule to stale rows.
-- (The event time enters the lambda as an array argument: 18.16 loses columns captured by a lambda when an
-- outer query prunes columns.) Columns in the order of person_events_stored: INSERT … SELECT is positional.
INSERT INTO {target}
SELECT
    if(empty(periods), node, arrayFirst((p, t) -> p.1 <= t, periods, arrayResize([timestamp], length(periods), timestamp)).2) AS person_id,
    cityHash64(person_id) AS person_key,
    node,
    cityHash64(node) AS node_key,
    toUInt8(node_key % 16) AS bucket,
    message_id, source, original_day, type, event, name, anonymous_id, user_id, timestamp, received_at,
    -- properties.revenue as every numeric rule reads it (migrations/042_numeric_string_revenue.sql): a JSON number or
    -- a string holding a decimal number, else 0. This and revenue_given are query/conditions.ts's
    -- numberTermSql(propertyNumberSql(…)) and its `has`, spelled out (compile.test.ts checks it).
    if((match(visitParamExtractRaw(properties, 'revenue'), '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(visitParamExtractFloat(properties, 'revenue'))), visitParamExtractFloat(properties, 'revenue'), 0) AS revenue,
    properties, traits, consent, page_path, page_url, page_referrer,
    campaign_source, campaign_medium, campaign_name,
    -- The DEFAULTs of migrations/032_order_ids.sql (revenue_given: 042_numeric_string_revenue.sql), spelled out: this
    -- INSERT is positional.
    -- A JSON number's text, else a JSON string's (migrations/035_numeric_order_ids.sql): at most one part is non-empty.
    if(match(visitParamExtractRaw(properties, 'order_id'), '^-?[0-9]'), visitParamExtractRaw(properties, 'order_id'), '') ||
    visitParamExtractString(properties, 'order_id') AS order_id,
    (match(visitParamExtractRaw(properties, 'revenue'), '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(visitParamExtractFloat(properties, 'revenue'))) AS revenue_given,
    -- migrations/034_event_order.sql: the order of a person's events within one second.
    timestamp_ms, batch_position
FROM ({rows})
ANY LEFT JOIN
(
    -- identities_current narrowed to the identifiers of {nodes} first (identities is sorted by identifier).
    SELECT identifier AS node, arrayReverseSort(p -> p.1, groupArray((valid_from, person_id))) AS periods
    FROM identities
    WHERE identifier IN ({nodes})
      AND (identifier, version) IN (SELECT identifier, max(version) FROM identities WHERE identifier IN ({nodes}) GROUP BY identifier)
    GROUP BY identifier
) USING node;
