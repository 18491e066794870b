-- unconverted_orders: per currency without any rate, what person_orders (views/015_orders.sql) left out of
-- revenue: once rates are loaded (migrations/040_currencies.sql), an order in a currency that has none still
-- counts as an order, with revenue and refunds 0 (rate = 0). Adding it at face value would add another unit to
-- the reporting currency's, and dropping it unseen would hide that a rate is missing; this view says which rates
-- to load. Loading them converts those orders at once (person_orders computes at read time).
--   * currency: as the orders give it, upper-cased (a code that is not ISO 4217, say "US DOLLAR", shows here too);
--   * orders: orders in it (ordered = 1); refund_groups: refunds of orders that no Order Completed has, and
--     refunds without an order_id (ordered = 0);
--   * revenue, refunded: their amounts in that currency;
--   * first_day, last_day: the UTC days they fall on (for refunds without an order, the first refund's day),
--     the range the missing rates must cover.
-- Empty while no rate is loaded at all: then every order is taken as it is (rate = 1).
DROP TABLE IF EXISTS unconverted_orders;
CREATE VIEW unconverted_orders AS
SELECT
    currency,
    countIf(ordered = 1) AS orders,
    countIf(ordered = 0) AS refund_groups,
    sum(original_revenue) AS revenue,
    sum(original_refunded) AS refunded,
    min(order_day) AS first_day,
    max(order_day) AS last_day
FROM
(
    SELECT currency, ordered, original_revenue, original_refunded, toDate(if(ordered = 1, ordered_at, refunds[1].1)) AS order_day
    FROM person_orders
    WHERE rate = 0
)
GROUP BY currency
ORDER BY currency;
