-- retention_weekly: persons by cohort (Monday of the week first seen) and weeks since, with the share of
-- the cohort active (any event) in that week. Reads the per-person-day rollup person_days; persons are
-- grouped by person_key (cityHash64(person_id)).
DROP TABLE IF EXISTS retention_weekly;
CREATE VIEW retention_weekly AS
SELECT cohort_week, cell.1 AS week_offset, cell.2 AS active_persons, cohort_size, cell.2 / cohort_size AS share_active
FROM
(
    SELECT cohort_week, groupArray((week_offset, persons)) AS cells, arrayFirst(c -> c.1 = 0, cells).2 AS cohort_size
    FROM
    (
        SELECT cohort_week, week_offset, count() AS persons
        FROM
        (
            SELECT person_key, groupUniqArray(toMonday(day)) AS weeks, arrayReduce('min', weeks) AS cohort_week
            FROM person_days
            GROUP BY person_key
        )
        ARRAY JOIN arrayMap(w -> toUInt32(intDiv(toRelativeDayNum(w) - toRelativeDayNum(cohort_week), 7)), weeks) AS week_offset
        GROUP BY cohort_week, week_offset
    )
    GROUP BY cohort_week
)
ARRAY JOIN cells AS cell
ORDER BY cohort_week, week_offset;

-- retention_monthly: the same by calendar month first seen.
DROP TABLE IF EXISTS retention_monthly;
CREATE VIEW retention_monthly AS
SELECT cohort_month, cell.1 AS month_offset, cell.2 AS active_persons, cohort_size, cell.2 / cohort_size AS share_active
FROM
(
    SELECT cohort_month, groupArray((month_offset, persons)) AS cells, arrayFirst(c -> c.1 = 0, cells).2 AS cohort_size
    FROM
    (
        SELECT cohort_month, month_offset, count() AS persons
        FROM
        (
            SELECT person_key, groupUniqArray(toStartOfMonth(day)) AS months, arrayReduce('min', months) AS cohort_month
            FROM person_days
            GROUP BY person_key
        )
        ARRAY JOIN arrayMap(m -> toUInt32(toRelativeMonthNum(m) - toRelativeMonthNum(cohort_month)), months) AS month_offset
        GROUP BY cohort_month, month_offset
    )
    GROUP BY cohort_month
)
ARRAY JOIN cells AS cell
ORDER BY cohort_month, month_offset;
