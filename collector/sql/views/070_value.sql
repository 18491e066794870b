-- customer_value: per person with at least one order, from person_order_totals (views/015_orders.sql): orders
-- deduplicated by order_id, refunds (a full one without an amount, capped at the order) subtracted in
-- net_revenue. A multi-category order has products of 2+ categories.
DROP TABLE IF EXISTS customer_value;
CREATE VIEW customer_value AS
SELECT
    person_id,
    first_order_at,
    last_order_at,
    orders,
    gross_revenue,
    refunded,
    net_revenue,
    gross_revenue / orders AS average_order_value,
    multi_category_orders
FROM person_order_totals
WHERE orders > 0;

-- ltv_cohort_monthly: net revenue by cohort (month of first order) and months since, cumulative (LTV curve).
-- Orders count once per order_id, in the month of their first event; refunds subtract in the month they happen.
-- The offset is signed: a refund dated before the first order (clock skew, imported history) shows at a
-- negative offset instead of wrapping to 4294967295, and the cohort's total stays its net revenue.
DROP TABLE IF EXISTS ltv_cohort_monthly;
CREATE VIEW ltv_cohort_monthly AS
SELECT
    cohort_month,
    cell.1 AS months_since_first_order,
    cell.2 AS net_revenue,
    cumulative AS cumulative_revenue,
    customers,
    cumulative / customers AS cumulative_revenue_per_customer
FROM
(
    SELECT
        cohort_month,
        arraySort(c -> c.1, groupArray((month_offset, month_revenue))) AS cells,
        arrayCumSum(arrayMap(c -> c.2, cells)) AS running,
        maxIf(buyers, month_offset = 0) AS customers
    FROM
    (
        SELECT
            cohort_month,
            toInt32(toRelativeMonthNum(money.1) - toRelativeMonthNum(cohort_month)) AS month_offset,
            sum(money.2) AS month_revenue,
            uniqExact(person_key) AS buyers
        FROM
        (
            SELECT
                person_key,
                toStartOfMonth(minIf(ordered_at, ordered = 1)) AS cohort_month,
                arrayConcat(
                    groupArrayIf((toStartOfMonth(ordered_at), order_revenue), ordered = 1),
                    groupArrayArray(arrayMap(r -> (toStartOfMonth(r.1), -r.2), refunds))) AS moneys
            FROM person_orders
            GROUP BY person_key
            HAVING sum(ordered) > 0
        )
        ARRAY JOIN moneys AS money
        GROUP BY cohort_month, month_offset
    )
    GROUP BY cohort_month
)
ARRAY JOIN cells AS cell, running AS cumulative
ORDER BY cohort_month, months_since_first_order;

-- value_metrics: one row of shop-wide value metrics; churn counts customers without an order in the 90
-- days before the newest event (see docs/analytics.md for other thresholds).
DROP TABLE IF EXISTS value_metrics;
CREATE VIEW value_metrics AS
SELECT
    count() AS customers,
    sum(orders) AS total_orders,
    sum(gross_revenue) AS gross,
    sum(refunded) AS refunds,
    sum(net_revenue) AS net,
    sum(gross_revenue) / sum(orders) AS average_order_value,
    sum(orders) / count() AS purchase_frequency,
    countIf(orders >= 2) / count() AS repeat_purchase_rate,
    sum(multi_category_orders) / sum(orders) AS cross_sell_rate,
    countIf(last_order_at < (SELECT max(timestamp) FROM events) - 90 * 86400) / count() AS churn_rate_90d
FROM customer_value;
