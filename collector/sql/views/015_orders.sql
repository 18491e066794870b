-- Orders deduplicated by order_id, and refunds matched to them whoever sent them: what every view that counts
-- orders or sums revenue reads (profiles, customer_value, ltv_cohort_monthly, value_metrics, ltv_by_segment, the
-- segment metrics ltv, orders, days_since_last_order, ordered_since_last_cart_add and top LTV).
-- Rules (docs/analytics.md, "Orders and refunds"):
--   * an order_id counts once in the database, across persons and sources: one database is one shop (the web
--     and app sources place orders, the backend's source refunds them; two shops on one server need a database
--     each). The earliest Order Completed with it (in
--     event order: ms, then position in the batch; see views/030_sessions.sql) gives the order's revenue and
--     time, and its person owns the order: a later Order Completed with the same order_id under another person
--     (a shared device before and after a login that was never merged) adds nothing (two persons' first Order
--     Completed of one millisecond and batch position: the smaller person_key's, with its revenue; within one
--     person, the smaller message_id's). A
--     reloaded thank-you page, or the GA4 bridge and the site's own cart call both firing, send the same order
--     twice with different messageIds; GA4 also keeps one purchase per transaction id. A numeric order_id is its
--     decimal text (1234 and "1234" are one order). An Order Completed without an order_id is an order of its
--     own, its sender's;
--   * an Order Refunded with an order_id refunds that order, whoever sent it: shops refund from their backend (a
--     Segment or RudderStack server library, or curl) under a service anonymousId, an order system's user id or
--     the buyer's account on a device never linked, and GA4 matches a refund by transaction_id alone. The refund
--     is the order's owner's, at the refund's time. It refunds properties.revenue, or the whole order when it has
--     no amount (the Segment spec's full refund, and what the GA4 bridge sends for one); the refunds of one order
--     never add up to more than its revenue (in time order, each refund is cut to what is left, whoever sent it);
--   * refunds of an order_id that no Order Completed has count their amounts (nothing without one), uncapped,
--     for the person who sent the first of them (the order may predate tracking; its buyer is unknown); a refund
--     without an order_id is its sender's, its amount or nothing.
-- order_id and revenue_given are columns of person_events_stored (migrations/032_order_ids.sql, 035_numeric_order_ids.sql).

-- person_orders: one row per order_id (ordered = 1 when an Order Completed has it, 0 when only refunds do) with
-- its owner as person_id, plus one per event without order_id (an order, or a refund with ordered = 0), its
-- sender's. refunds: (time, amount) of each refund after the cap, in time order; refunded_amount is their sum.
-- Persons only: an order stored without ids (event:<message_id>, views/010_base.sql) is no customer's, so it is
-- in no customer count, LTV or segment.
-- Currencies (docs/analytics.md, "Currencies"): order_revenue, refunds and refunded_amount are in the reporting
-- currency, so every view that reads orders adds one unit. A shop selling in EUR and USD would otherwise get LTVs
-- that are sums of both (PostHog's revenue analytics and Snowplow's currency conversion convert too).
--   * currency: properties.currency of the event that gives the order's revenue (the owner's first Order
--     Completed; for refunds without an order, the first refund), upper-cased, '' without one: the column
--     currency of person_events_stored (migrations/040_currencies.sql), so only the product categories need
--     properties. Read like order_id, with visitParamExtractString: the first "currency" key of the properties,
--     so put it at the top level (the GA4 bridge gives each product the order's currency, so either is the
--     order's). Refunds are in their order's currency and converted with its rate.
--   * rate: what one unit of currency is worth in the reporting currency on the order's UTC day (for refunds
--     without an order, the first refund's): the day's rate, else the latest earlier day's, else, for an order
--     older than every rate of its currency, the earliest (views/012_currency_rates.sql). 1 while no rate was
--     ever loaded (every figure as before rates existed), for an order in the reporting currency and for one
--     without currency. 0 for a currency without any rate: the order still counts as an order, but adds nothing
--     to revenue (neither at face value, which would add another unit, nor dropped unseen: unconverted_orders
--     lists it, and loading its currency's rates converts it at once, as views compute at read time).
--   * original_revenue, original_refunded: the order's revenue and refunds in its own currency. Refunds are capped
--     in it, then converted, so with rate 1 every amount is exactly what it was before conversion existed.
DROP TABLE IF EXISTS person_orders;
CREATE VIEW person_orders AS
SELECT
    customer_id AS person_id,
    buyer_key AS person_key,
    order_ref AS order_id,
    ordered,
    ordered_at,
    placed_revenue * conversion AS order_revenue,
    multi_category,
    arrayMap((r, a) -> (r.1, a), refund_events, converted) AS refunds,
    arraySum(converted) AS refunded_amount,
    order_currency AS currency,
    placed_revenue AS original_revenue,
    arraySum(amounts) AS original_refunded,
    conversion AS rate
FROM
(
    SELECT
        order_ref, buyer_key, customer_id, ordered, ordered_at, placed_revenue, multi_category, refund_events, order_currency,
        -- No rate ever loaded (reporting ''), the reporting currency or none: as is. Otherwise the joined rate; 0
        -- when the currency has none (no row joined).
        multiIf(reporting = '' OR order_currency = '' OR order_currency = reporting, toFloat64(1), day_rate) AS conversion,
        -- What each refund asks for (no amount: the whole order), then the running total capped at the order's
        -- revenue, then each refund's share of it, all in the order's currency; then converted. (Values enter
        -- lambdas as array arguments: 18.16 loses columns captured by a lambda when an outer query prunes columns.)
        arrayMap((r, whole) -> if(r.5 = 1, r.4, whole), refund_events, arrayResize([placed_revenue], length(refund_events), placed_revenue)) AS asked,
        if(ordered = 1,
           arrayMap((c, cap) -> least(c, cap), arrayCumSum(asked), arrayResize([placed_revenue], length(asked), placed_revenue)),
           arrayCumSum(asked)) AS running,
        arrayMap((c, before) -> c - before, running, arrayPopBack(arrayPushFront(running, toFloat64(0)))) AS amounts,
        arrayMap((a, r) -> a * r, amounts, arrayResize([conversion], length(amounts), conversion)) AS converted
    FROM
    (
        SELECT
            order_id AS order_ref,
            -- The owner: the person of the first Order Completed, else of the first refund (owner_rank).
            argMin(person_key, owner_rank) AS buyer_key,
            argMin(person_id, owner_rank) AS customer_id,
            toUInt8(countIf(event = 'Order Completed') > 0) AS ordered,
            minIf(timestamp, event = 'Order Completed') AS ordered_at,
            -- Revenue of the owner's first Order Completed (the same owner_rank; message_id breaks a tie within one
            -- person).
            argMinIf(revenue, (owner_rank, message_id), event = 'Order Completed') AS placed_revenue,
            -- Its product categories, apart: a view that needs none (ltv_cohort_monthly, profiles, segment metrics)
            -- reads no properties. They come from products[] only: a top-level category of an order is not a
            -- product's (the GA4 bridge used to send an item list's name as one, and stored events keep it).
            argMinIf(toUInt8(length(arrayDistinct(extractAll(visitParamExtractRaw(properties, 'products'), '"category":"([^"]*)"'))) >= 2), (owner_rank, message_id), event = 'Order Completed') AS multi_category,
            arraySort(groupArrayIf((timestamp, event_order, message_id, revenue, revenue_given), event = 'Order Refunded')) AS refund_events,
            -- The currency of the same Order Completed (orders rank before refunds), else of the first refund:
            -- refunds are in their order's currency. By owner_rank alone, a number, compared far faster than the tuple
            -- with message_id (with it, the currency cost about 10% of the view at 10x the bench's 1M events): two
            -- Order Completed of one person, millisecond and batch position in two currencies would give either's.
            argMin(currency, owner_rank) AS order_currency,
            -- The join's keys, columns of this subquery (modern ClickHouse resolves USING against the joined
            -- tables, not the joining SELECT's aliases): the currency, and the order's UTC day (for refunds
            -- without an order, the first refund's) clamped into the days currency_rate_days covers, so an order
            -- before every rate gets the earliest and one after every rate the latest.
            order_currency AS rate_currency,
            least(greatest(toDate(if(ordered = 1, ordered_at, refund_events[1].1)), rates_state.2), rates_state.3) AS rate_day,
            rates_state.1 AS reporting,
            (SELECT (reporting, first_rate_day, last_rate_day) FROM currency_reporting) AS rates_state
        FROM
        (
            SELECT
                person_id, person_key, message_id, timestamp, event, revenue, revenue_given, order_id, properties, currency, lone, event_order,
                -- Orders first, then refunds; each in event order (event_order < 2^58 until 2105, so bit 58 marks a
                -- refund); the low 64 bits hold person_key, so two persons' events of the same millisecond and batch
                -- position go to the smaller person_key, the same on every run. One Decimal128 rather than a tuple
                -- with message_id: argMin compares a number far faster (at 10M events the tuple made the view about
                -- 25% slower than the per-person grouping it replaced, this about 3-9%; docs/analytics.md).
                toDecimal128(event_order + (event = 'Order Refunded') * 288230376151711744, 0) * toDecimal128(4294967296, 0)
                    * toDecimal128(4294967296, 0) + toDecimal128(person_key, 0) AS owner_rank
            FROM
            (
                SELECT person_id, person_key, message_id, timestamp, event, revenue, revenue_given, order_id, properties, currency,
                       if(order_id = '', message_id, '') AS lone, timestamp_ms * 65536 + batch_position AS event_order
                FROM person_events_stored
                WHERE event IN ('Order Completed', 'Order Refunded') AND node_key NOT IN (SELECT node_key FROM stale_nodes)
                  AND person_id NOT LIKE 'event:%'
                UNION ALL
                -- (person_events_restated, a view, has no currency column: the same expression as the stored one's,
                -- migrations/040_currencies.sql, over the few rows of stale identifiers.)
                SELECT person_id, person_key, message_id, timestamp, event, revenue, revenue_given, order_id, properties,
                       upper(visitParamExtractString(properties, 'currency')) AS order_currency_code,
                       if(order_id = '', message_id, '') AS lone, timestamp_ms * 65536 + batch_position AS event_order
                FROM person_events_restated
                WHERE event IN ('Order Completed', 'Order Refunded') AND person_id NOT LIKE 'event:%'
            )
        )
        -- One group per order_id, whoever sent its events; events without an order_id are one group each (lone =
        -- their message_id).
        GROUP BY order_id, lone
    )
    -- One hash lookup per order in a row per currency and day (views/012_currency_rates.sql).
    ANY LEFT JOIN (SELECT currency AS rate_currency, day AS rate_day, rate AS day_rate FROM currency_rate_days) USING (rate_currency, rate_day)
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
