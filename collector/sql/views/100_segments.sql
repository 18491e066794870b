-- segment_last_runs: each segment's newest completed materialisation run (segment_runs is written after the
-- run's members), one row per segment: the highest run number, and of materialisations that picked the same
-- number (two at once, migration 039), the one with the highest run_token. Its members are the rows of
-- segment_members with that run and run_token.
DROP TABLE IF EXISTS segment_last_runs;
CREATE VIEW segment_last_runs AS
SELECT segment_id, run, run_token, computed_at, members, entered_count, left_count
FROM segment_runs
WHERE (segment_id, run, run_token) IN
(
    SELECT segment_id, run, max(run_token)
    FROM segment_runs
    WHERE (segment_id, run) IN (SELECT segment_id, max(run) FROM segment_runs GROUP BY segment_id)
    GROUP BY segment_id, run
)
LIMIT 1 BY segment_id;

-- segment_members_current: members of each segment's newest completed materialisation run. A deleted saved
-- segment is left out at once: its runs and members are removed by mutations that finish later.
DROP TABLE IF EXISTS segment_members_current;
CREATE VIEW segment_members_current AS
SELECT segment_id, person_id, computed_at
FROM segment_members
WHERE (segment_id, run, run_token) IN (SELECT segment_id, run, run_token FROM segment_last_runs)
  AND segment_id NOT IN (SELECT segment_id FROM segments GROUP BY segment_id HAVING argMax(deleted, version) = 1);

-- ltv_by_segment: members, customers and net revenue (LTV) per segment.
DROP TABLE IF EXISTS ltv_by_segment;
CREATE VIEW ltv_by_segment AS
SELECT
    segment_id,
    count() AS members,
    countIf(customer_orders > 0) AS customers,
    sum(customer_revenue) AS revenue,
    sum(customer_revenue) / count() AS ltv_per_member
FROM segment_members_current
ALL LEFT JOIN (SELECT person_id, orders AS customer_orders, net_revenue AS customer_revenue FROM customer_value) USING person_id
GROUP BY segment_id
ORDER BY segment_id;

-- cx_by_segment: NPS, CSAT and CES (all time) of each segment's members.
DROP TABLE IF EXISTS cx_by_segment;
CREATE VIEW cx_by_segment AS
SELECT
    segment_id,
    nps_responses,
    if(nps_responses = 0, 0, nps_points_total / nps_responses) AS nps,
    csat_responses,
    if(csat_responses = 0, 0, satisfied_responses * 100 / csat_responses) AS csat,
    ces_responses,
    if(ces_responses = 0, 0, ces_total / ces_responses) AS ces
FROM
(
    SELECT
        segment_id,
        countIf(survey_type = 'nps') AS nps_responses,
        sum(nps_points) AS nps_points_total,
        countIf(survey_type = 'csat') AS csat_responses,
        sum(satisfied) AS satisfied_responses,
        countIf(survey_type = 'ces') AS ces_responses,
        sumIf(score, survey_type = 'ces') AS ces_total
    FROM survey_responses
    ALL INNER JOIN segment_members_current USING person_id
    GROUP BY segment_id
)
ORDER BY segment_id;
