-- survey_responses: Survey Responded events, one row each, with the person who answered. The feedback
-- plugin (sdk/plugins/feedback.ts) sends the survey's scale as scale_min/scale_max. Numbers follow the project's one
-- rule (query/conditions.ts propertyNumberSql, spelled out here; compile.test.ts checks the text): a JSON number or a
-- string whose whole content is one ("9"). An event whose score has none ("4abc", true, missing) is no answer, so it
-- is left out rather than scored 0 (an NPS detractor); a scale without a number is 0 (no scale).
DROP TABLE IF EXISTS survey_responses;
CREATE VIEW survey_responses AS
SELECT
    person_id,
    timestamp AS responded_at,
    visitParamExtractString(properties, 'survey_type') AS survey_type,
    visitParamExtractFloat(properties, 'score') AS score,
    if((match(visitParamExtractRaw(properties, 'scale_min'), '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(visitParamExtractFloat(properties, 'scale_min'))), visitParamExtractFloat(properties, 'scale_min'), 0) AS scale_min,
    if((match(visitParamExtractRaw(properties, 'scale_max'), '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(visitParamExtractFloat(properties, 'scale_max'))), visitParamExtractFloat(properties, 'scale_max'), 0) AS scale_max,
    -- Each answer scored once here, so every CX view shares one definition: an NPS promoter (9–10)
    -- counts +100 and a detractor (0–6) −100, so NPS is their average; a CSAT answer is satisfied when
    -- score / scale_max >= 0.8 (an answer without a scale is not).
    multiIf(survey_type = 'nps' AND score >= 9, 100, survey_type = 'nps' AND score <= 6, -100, 0) AS nps_points,
    survey_type = 'csat' AND scale_max > 0 AND score / scale_max >= 0.8 AS satisfied
FROM (
    SELECT person_id, timestamp, properties FROM person_events_stored
    WHERE event = 'Survey Responded' AND node_key NOT IN (SELECT node_key FROM stale_nodes)
    UNION ALL
    SELECT person_id, timestamp, properties FROM person_events_restated
    WHERE event = 'Survey Responded'
)
WHERE (match(visitParamExtractRaw(properties, 'score'), '^(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|"-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")$') AND isFinite(visitParamExtractFloat(properties, 'score')));

-- cx_monthly: NPS (% promoters 9–10 minus % detractors 0–6), CSAT (% of answers in the top two of five,
-- i.e. score / scale_max >= 0.8; an answer without a scale is not satisfied) and average CES, per calendar month.
DROP TABLE IF EXISTS cx_monthly;
CREATE VIEW cx_monthly AS
SELECT
    month,
    nps_responses,
    if(nps_responses = 0, 0, nps_points_total / nps_responses) AS nps,
    csat_responses,
    if(csat_responses = 0, 0, satisfied_responses * 100 / csat_responses) AS csat,
    ces_responses,
    if(ces_responses = 0, 0, ces_total / ces_responses) AS ces
FROM
(
    SELECT
        toStartOfMonth(responded_at) AS month,
        countIf(survey_type = 'nps') AS nps_responses,
        sum(nps_points) AS nps_points_total,
        countIf(survey_type = 'csat') AS csat_responses,
        sum(satisfied) AS satisfied_responses,
        countIf(survey_type = 'ces') AS ces_responses,
        sumIf(score, survey_type = 'ces') AS ces_total
    FROM survey_responses
    GROUP BY month
)
ORDER BY month;
