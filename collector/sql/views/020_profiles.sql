-- profiles: one row per person. Orders and revenue come from person_order_totals (views/015_orders.sql): one
-- order per order_id, revenue net of refunds. average_order_value is gross (order revenue before refunds, per
-- order), as in customer_value and value_metrics: refunds show in revenue, not in the size of an order. Sessions
-- split at 30 minutes of inactivity. Latest traits and consent, and first and last touch, follow event order (ms,
-- then position in the batch), so two events of one second are told apart.
DROP TABLE IF EXISTS profiles;
CREATE VIEW profiles AS
SELECT
    person_id,
    if(empty(known_identifiers), [person_id], known_identifiers) AS identifiers,
    latest_traits,
    first_seen,
    last_seen,
    session_count AS sessions,
    page_views,
    order_count AS orders,
    net_revenue AS revenue,
    if(order_count = 0, 0, gross_revenue / order_count) AS average_order_value,
    last_order_at,
    consent_state,
    first_touch.1 AS first_touch_source,
    first_touch.2 AS first_touch_medium,
    first_touch.3 AS first_touch_campaign,
    last_touch.1 AS last_touch_source,
    last_touch.2 AS last_touch_medium,
    last_touch.3 AS last_touch_campaign
FROM
(
    SELECT
        person_id, latest_traits, first_seen, last_seen, session_count, page_views, consent_state, first_touch, last_touch,
        order_count, gross_revenue, net_revenue, last_order_at
    FROM
    (
        SELECT
            person_id,
            -- An identify without traits (identify(userId) on every page load) says nothing about them.
            argMaxIf(traits, event_order, type = 'identify' AND traits NOT IN ('', '{}')) AS latest_traits,
            min(timestamp) AS first_seen,
            max(timestamp) AS last_seen,
            arraySort(groupArray(toUInt32(timestamp))) AS times,
            arrayCount((t, i) -> i = 1 OR t - times[i - 1] > 1800, times, arrayEnumerate(times)) AS session_count,
            countIf(type = 'page') AS page_views,
            argMaxIf(consent, event_order, consent NOT IN ('', '{}')) AS consent_state,
            argMinIf(tuple(campaign_source, campaign_medium, campaign_name), event_order, campaign_source != '') AS first_touch,
            argMaxIf(tuple(campaign_source, campaign_medium, campaign_name), event_order, campaign_source != '') AS last_touch
        FROM
        (
            -- Latest and first in event order (views/030_sessions.sql): ms, then position in the batch.
            SELECT person_id, type, traits, timestamp, consent, campaign_source, campaign_medium, campaign_name,
                   timestamp_ms * 65536 + batch_position AS event_order
            FROM person_events
            -- An event stored without ids (event:<message_id>, views/010_base.sql) is no one's profile.
            WHERE person_id NOT LIKE 'event:%'
        )
        GROUP BY person_id
    )
    -- A person without orders or refunds is not in person_order_totals: 0 orders, 0 revenue, no last order.
    ANY LEFT JOIN (SELECT person_id, orders AS order_count, gross_revenue, net_revenue, last_order_at FROM person_order_totals) USING person_id
) ANY LEFT JOIN
(
    SELECT person_id, arraySort(groupUniqArray(identifier)) AS known_identifiers
    FROM identities_current
    GROUP BY person_id
) USING person_id;
