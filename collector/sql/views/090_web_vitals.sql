-- web_vitals: 75th percentile (exact: the value at position floor(0.75 n) of the sorted samples) of LCP
-- and INP (ms) and CLS per path of the page load, from Web Vitals events. The vitals plugin (sdk/plugins/vitals.ts)
-- sends one event per page load with flat properties (lcp, lcp_rating, inp, …); a metric it has not
-- measured (e.g. INP without an interaction) is absent, so each metric counts only where its value has a number by the
-- project's one rule (query/conditions.ts rawNumberSql, spelled out here; compile.test.ts checks the text): a JSON
-- number or a string whose whole content is one ("2000"); "1500abc", true or null is no sample.
DROP TABLE IF EXISTS web_vitals;
CREATE VIEW web_vitals AS
SELECT
    path,
    lcp_samples,
    if(lcp_samples = 0, 0, lcp_p75_raw) AS lcp_p75,
    inp_samples,
    if(inp_samples = 0, 0, inp_p75_raw) AS inp_p75,
    cls_samples,
    if(cls_samples = 0, 0, cls_p75_raw) AS cls_p75
FROM
(
    SELECT
        -- The page load's path (properties.path, since session 7): in an SPA the event's own page_path is
        -- the route shown when the page was hidden. Older events have only page_path.
        if(visitParamHas(properties, 'path'), visitParamExtractString(properties, 'path'), page_path) AS path,
        countIf(lcp_given) AS lcp_samples,
        quantileExactIf(0.75)(lcp_value, lcp_given) AS lcp_p75_raw,
        countIf(inp_given) AS inp_samples,
        quantileExactIf(0.75)(inp_value, inp_given) AS inp_p75_raw,
        countIf(cls_given) AS cls_samples,
        quantileExactIf(0.75)(cls_value, cls_given) AS cls_p75_raw
    FROM (
        -- Each metric's number, read once per event from its raw JSON text (query/conditions.ts rawNumberSql: the same
        -- rule as propertyNumberSql, in one JSON scan per metric instead of two).
        SELECT page_path, properties,
            (match(lcp_raw, '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(toFloat64OrZero(replaceAll(lcp_raw, '"', '')))) AS lcp_given,
            toFloat64OrZero(replaceAll(lcp_raw, '"', '')) AS lcp_value,
            (match(inp_raw, '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(toFloat64OrZero(replaceAll(inp_raw, '"', '')))) AS inp_given,
            toFloat64OrZero(replaceAll(inp_raw, '"', '')) AS inp_value,
            (match(cls_raw, '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(toFloat64OrZero(replaceAll(cls_raw, '"', '')))) AS cls_given,
            toFloat64OrZero(replaceAll(cls_raw, '"', '')) AS cls_value
        FROM (
            SELECT page_path, properties,
                   visitParamExtractRaw(properties, 'lcp') AS lcp_raw,
                   visitParamExtractRaw(properties, 'inp') AS inp_raw,
                   visitParamExtractRaw(properties, 'cls') AS cls_raw
            FROM (
                SELECT page_path, properties FROM person_events_stored
                WHERE event = 'Web Vitals' AND node_key NOT IN (SELECT node_key FROM stale_nodes)
                UNION ALL
                SELECT page_path, properties FROM person_events_restated
                WHERE event = 'Web Vitals'
            )
        )
    )
    GROUP BY path
)
ORDER BY path;
