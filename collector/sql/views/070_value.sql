-- customer_value: per person with at least one order. Refunds (Order Refunded, properties.revenue = the
-- amount refunded, stored as person_events.revenue) subtract from net_revenue. A multi-category order has
-- products of 2+ categories. Persons are grouped by person_key (cityHash64(person_id)).
DROP TABLE IF EXISTS customer_value;
CREATE VIEW customer_value AS
SELECT
    customer_id AS person_id,
    first_order_at,
    last_order_at,
    order_count AS orders,
    gross_revenue,
    refunded,
    gross_revenue - refunded AS net_revenue,
    gross_revenue / order_count AS average_order_value,
    multi_category_orders
FROM
(
    SELECT
        any(person_id) AS customer_id,
        minIf(timestamp, event = 'Order Completed') AS first_order_at,
        maxIf(timestamp, event = 'Order Completed') AS last_order_at,
        countIf(event = 'Order Completed') AS order_count,
        sumIf(revenue, event = 'Order Completed') AS gross_revenue,
        sumIf(revenue, event = 'Order Refunded') AS refunded,
        countIf(event = 'Order Completed' AND length(arrayDistinct(extractAll(properties, '"category":"([^"]*)"'))) >= 2) AS multi_category_orders
    FROM (
        SELECT person_id, person_key, timestamp, event, revenue, properties FROM person_events_stored
        WHERE event IN ('Order Completed', 'Order Refunded') AND node_key NOT IN (SELECT node_key FROM stale_nodes)
        UNION ALL
        SELECT person_id, person_key, timestamp, event, revenue, properties FROM person_events_restated
        WHERE event IN ('Order Completed', 'Order Refunded')
    )
    GROUP BY person_key
)
WHERE order_count > 0;

-- ltv_cohort_monthly: net revenue by cohort (month of first order) and months since, cumulative (LTV curve).
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
                toStartOfMonth(minIf(timestamp, event = 'Order Completed')) AS cohort_month,
                groupArray((toStartOfMonth(timestamp), if(event = 'Order Completed', 1, -1) * revenue)) AS moneys
            FROM (
                SELECT person_key, timestamp, event, revenue FROM person_events_stored
                WHERE event IN ('Order Completed', 'Order Refunded') AND node_key NOT IN (SELECT node_key FROM stale_nodes)
                UNION ALL
                SELECT person_key, timestamp, event, revenue FROM person_events_restated
                WHERE event IN ('Order Completed', 'Order Refunded')
            )
            GROUP BY person_key
            HAVING countIf(event = 'Order Completed') > 0
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
