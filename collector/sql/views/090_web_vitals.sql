-- web_vitals: 75th percentile (exact: the value at position floor(0.75 n) of the sorted samples) of LCP
-- and INP (ms) and CLS per page path, from Web Vitals events (properties.name, properties.value).
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
        page_path AS path,
        countIf(metric = 'LCP') AS lcp_samples,
        quantileExactIf(0.75)(metric_value, metric = 'LCP') AS lcp_p75_raw,
        countIf(metric = 'INP') AS inp_samples,
        quantileExactIf(0.75)(metric_value, metric = 'INP') AS inp_p75_raw,
        countIf(metric = 'CLS') AS cls_samples,
        quantileExactIf(0.75)(metric_value, metric = 'CLS') AS cls_p75_raw
    FROM
    (
        SELECT page_path, visitParamExtractString(properties, 'name') AS metric, visitParamExtractFloat(properties, 'value') AS metric_value
        FROM events_dedup
        WHERE event = 'Web Vitals'
    )
    GROUP BY path
)
ORDER BY path;
