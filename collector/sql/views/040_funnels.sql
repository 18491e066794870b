-- ecommerce_funnel_daily: persons reaching each step of Product Viewed → Product Added → Checkout Started
-- → Order Completed within 24 hours of the view (windowFunnel), per UTC day of the view. A funnel is the
-- person's across devices and sources (an order placed in the app, or sent by the shop's backend, completes
-- a funnel started on the web); event_source is where the person's first view of that day came from (first
-- touch, as PostHog attributes a funnel breakdown). Persons are grouped by person_key (cityHash64(person_id),
-- see migrations/030_person_events.sql).
-- Steps are ordered by their ms (timestamp_ms, migrations/034_event_order.sql), not their second: windowFunnel
-- takes equal times in step order on modern ClickHouse but in read order on 18.16, which reads a person's
-- rows grouped by event name (the sorting key), so a view and an add in one second counted differently on the
-- two. 18.16's windowFunnel takes only DateTime or UInt32 times, so it gets step_time: ms since the funnel
-- day's midnight (under 2 days, so under 2^32) times 4, plus the step's index (0–3; from the conditions, which
-- windowFunnel computes anyway). Steps within one ms count in step order on both versions, and the 24-hour
-- window becomes 86,400,000 ms · 4 + 3 (the index's room).
-- Persons only: an event stored without ids (event:<message_id>, views/010_base.sql) is a person of its own, so
-- a shopper whose ids the consent policy stripped would count as a view that never went on.
DROP TABLE IF EXISTS ecommerce_funnel_daily;
CREATE VIEW ecommerce_funnel_daily AS
SELECT
    day,
    event_source,
    countIf(level >= 1) AS viewed,
    countIf(level >= 2) AS added_to_cart,
    countIf(level >= 3) AS checkout_started,
    countIf(level >= 4) AS ordered
FROM
(
    -- One UInt64 group key per (person, day of the view): 18.16 groups by it far faster than by the two
    -- columns (a collision of two of ~10^6 groups has a probability of ~10^-7).
    -- A funnel that starts late in the day ends on the next one, so each later step also counts towards the
    -- funnels of the day before its own (funnel_day); views start only their own day's funnel (the bulk of
    -- these events, so they are not doubled). (Two sources' views in the same ms: either one.)
    SELECT
        cityHash64(person_key, funnel_day) AS group_key,
        any(funnel_day) AS day,
        argMinIf(source, timestamp_ms, event = 'Product Viewed') AS event_source,
        windowFunnel(345600003)(
            toUInt32((timestamp_ms - toUInt64(funnel_day) * 86400000) * 4
                     + (event = 'Product Added') + (event = 'Checkout Started') * 2 + (event = 'Order Completed') * 3) AS step_time,
            event = 'Product Viewed', event = 'Product Added', event = 'Checkout Started', event = 'Order Completed') AS level
    FROM (
        SELECT person_key, timestamp, timestamp_ms, source, event FROM person_events_stored
        WHERE event IN ('Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed') AND node_key NOT IN (SELECT node_key FROM stale_nodes)
          AND person_id NOT LIKE 'event:%'
        UNION ALL
        SELECT person_key, timestamp, timestamp_ms, source, event FROM person_events_restated
        WHERE event IN ('Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed') AND person_id NOT LIKE 'event:%'
    )
    ARRAY JOIN if(event = 'Product Viewed', [toDate(timestamp)], [toDate(timestamp), toDate(timestamp) - 1]) AS funnel_day
    GROUP BY group_key
    -- Without a view that day there is no funnel (a row of zeros otherwise).
    HAVING level > 0
)
GROUP BY day, event_source
ORDER BY day, event_source;
