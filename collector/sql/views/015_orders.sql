-- Orders deduplicated per person, and refunds matched to them: what every view that counts orders or sums
-- revenue reads (profiles, customer_value, ltv_cohort_monthly, value_metrics, ltv_by_segment, the segment
-- metrics ltv, orders, days_since_last_order, ordered_since_last_cart_add and top LTV).
-- Rules (docs/analytics.md):
--   * per person, an order_id counts once: the earliest Order Completed with it (in event order: ms, then position
--     in the batch, then message_id; see views/030_sessions.sql) gives the order's revenue and time. A reloaded thank-you page, or the GA4 bridge and the site's own cart
--     call both firing, send the same order twice with different messageIds; GA4 also keeps one purchase per
--     transaction id. A numeric order_id is its decimal text (1234 and "1234" are one order). An Order Completed
--     without an order_id is an order of its own, as before;
--   * an Order Refunded refunds properties.revenue, or the whole order when it has no amount (the Segment spec's
--     full refund, and what the GA4 bridge sends for one); the refunds of one order never add up to more than
--     its revenue (in time order, each refund is cut to what is left). A refund whose order_id matches no order
--     of the person (or that has none) refunds its amount, or nothing without one.
-- order_id and revenue_given are columns of person_events_stored (migrations/032_order_ids.sql, 035_numeric_order_ids.sql).

-- person_orders: one row per order of a person (ordered = 1), plus one per order_id that has refunds but no
-- order of that person and per refund without order_id (ordered = 0). refunds: (time, amount) of each refund
-- after the cap, in time order; refunded_amount is their sum. Persons only: an order stored without ids
-- (event:<message_id>, views/010_base.sql) is no customer's, so it is in no customer count, LTV or segment.
DROP TABLE IF EXISTS person_orders;
CREATE VIEW person_orders AS
SELECT
    customer_id AS person_id,
    person_key,
    order_ref AS order_id,
    ordered,
    ordered_at,
    order_revenue,
    multi_category,
    arrayMap((r, a) -> (r.1, a), refund_events, amounts) AS refunds,
    arraySum(amounts) AS refunded_amount
FROM
(
    SELECT
        person_key,
        order_ref,
        customer_id,
        ordered,
        ordered_at,
        order_revenue,
        multi_category,
        refund_events,
        -- What each refund asks for (no amount: the whole order), then the running total capped at the order's
        -- revenue, then each refund's share of it. (Values enter lambdas as array arguments: 18.16 loses
        -- columns captured by a lambda when an outer query prunes columns.)
        arrayMap((r, whole) -> if(r.5 = 1, r.4, whole), refund_events, arrayResize([order_revenue], length(refund_events), order_revenue)) AS asked,
        if(ordered = 1,
           arrayMap((c, cap) -> least(c, cap), arrayCumSum(asked), arrayResize([order_revenue], length(asked), order_revenue)),
           arrayCumSum(asked)) AS running,
        arrayMap((c, before) -> c - before, running, arrayPopBack(arrayPushFront(running, toFloat64(0)))) AS amounts
    FROM
    (
        SELECT
            person_key,
            order_id AS order_ref,
            any(person_id) AS customer_id,
            toUInt8(countIf(event = 'Order Completed') > 0) AS ordered,
            minIf(timestamp, event = 'Order Completed') AS ordered_at,
            argMinIf(revenue, (event_order, message_id), event = 'Order Completed') AS order_revenue,
            -- Product categories come from products[] only: a top-level category of an order is not a product's (the
            -- GA4 bridge used to send an item list's name as one, and stored events keep it).
            argMinIf(toUInt8(length(arrayDistinct(extractAll(visitParamExtractRaw(properties, 'products'), '"category":"([^"]*)"'))) >= 2), (event_order, message_id), event = 'Order Completed') AS multi_category,
            arraySort(groupArrayIf((timestamp, event_order, message_id, revenue, revenue_given), event = 'Order Refunded')) AS refund_events
        FROM (
            SELECT person_id, person_key, message_id, timestamp, event, revenue, revenue_given, order_id, properties,
                   if(order_id = '', message_id, '') AS lone, timestamp_ms * 65536 + batch_position AS event_order
            FROM person_events_stored
            WHERE event IN ('Order Completed', 'Order Refunded') AND node_key NOT IN (SELECT node_key FROM stale_nodes)
              AND person_id NOT LIKE 'event:%'
            UNION ALL
            SELECT person_id, person_key, message_id, timestamp, event, revenue, revenue_given, order_id, properties,
                   if(order_id = '', message_id, '') AS lone, timestamp_ms * 65536 + batch_position AS event_order
            FROM person_events_restated
            WHERE event IN ('Order Completed', 'Order Refunded') AND person_id NOT LIKE 'event:%'
        )
        -- Events without an order_id are one group each (lone = their message_id).
        GROUP BY person_key, order_id, lone
    )
);

-- person_order_totals: per person with any order or refund: orders (deduplicated), gross_revenue, refunded,
-- net_revenue (the LTV; negative for a person with refunds only), first and last order time,
-- multi_category_orders. customer_value is its rows with orders; profiles and segment metrics join it.
DROP TABLE IF EXISTS person_order_totals;
CREATE VIEW person_order_totals AS
SELECT
    customer_id AS person_id,
    person_key,
    order_count AS orders,
    gross AS gross_revenue,
    refund_total AS refunded,
    gross - refund_total AS net_revenue,
    first_order_at,
    last_order_at,
    multi_category_orders
FROM
(
    SELECT
        person_key,
        any(person_id) AS customer_id,
        sum(ordered) AS order_count,
        sum(order_revenue) AS gross,
        sum(refunded_amount) AS refund_total,
        minIf(ordered_at, ordered = 1) AS first_order_at,
        maxIf(ordered_at, ordered = 1) AS last_order_at,
        countIf(ordered = 1 AND multi_category = 1) AS multi_category_orders
    FROM person_orders
    GROUP BY person_key
);
