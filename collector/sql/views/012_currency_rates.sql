-- The exchange rates person_orders (views/015_orders.sql) converts revenue with, read from the table
-- currency_rates (migrations/040_currencies.sql) that the operator loads (docs/analytics.md, "Currencies").
-- Re-loading a (currency, day) replaces it: each is read at its highest version, so the views are right before
-- ReplacingMergeTree merges the old row away.

-- currency_reporting: one row: reporting, the reporting currency of the newest load ('' while no rate was ever
-- loaded: then person_orders converts nothing, every figure as the orders say, as before rates existed), and
-- first_rate_day, last_rate_day, the span of days the table's rows cover (all of them, used or not: the span only
-- has to hold those in use; person_orders clamps an order's day into it). An aggregate without GROUP BY: one row even on the empty table, on 18.16 and modern versions alike.
-- Read straight from the table (no view inside): person_orders reads it as a scalar subquery, which 18.16
-- evaluates each time it analyses the query.
DROP TABLE IF EXISTS currency_reporting;
CREATE VIEW currency_reporting AS
SELECT upper(argMax(reporting_currency, version)) AS reporting, min(day) AS first_rate_day, max(day) AS last_rate_day
FROM currency_rates;

-- currency_rates_current: the rate of each (currency, day) as last loaded, upper-cased codes. Only rates given
-- in the current reporting currency (rows left from another one would mix units), only positive finite rates
-- (a plain INSERT is not validated; such a day is as if not loaded), and no rate for the reporting currency
-- itself (its orders are taken as they are).
DROP TABLE IF EXISTS currency_rates_current;
CREATE VIEW currency_rates_current AS
SELECT loaded_currency AS currency, loaded_day AS day, loaded_rate AS rate
FROM
(
    SELECT
        upper(currency) AS loaded_currency,
        day AS loaded_day,
        argMax(rate, version) AS loaded_rate,
        upper(argMax(reporting_currency, version)) AS loaded_in
    FROM currency_rates
    GROUP BY loaded_currency, loaded_day
)
WHERE loaded_in = (SELECT reporting FROM currency_reporting)
  AND loaded_currency != loaded_in
  AND loaded_rate > 0 AND isFinite(loaded_rate);

-- currency_rate_days: for every currency with rates, the rate that applies to each day from the first day any
-- currency has a rate to the last: the day's own, else the latest earlier day's (weekends and holidays have no
-- fixing), and before the currency's first rate that first rate. person_orders clamps an order's day into the
-- same span (an order after every rate takes the latest) and joins this on (currency, day): one hash lookup
-- per order, whatever the number of days loaded (searching the loaded days per order would cost their number).
-- Built by spans: each loaded day covers the days up to the next loaded one (the first also those before it, the
-- last those after it), so it has a row per currency and day of the span: a few thousand per currency for years
-- of rates. (18.16 takes one ARRAY JOIN per query, hence the nesting; values enter lambdas as array arguments:
-- 18.16 loses columns captured by a lambda when an outer query prunes columns.)
DROP TABLE IF EXISTS currency_rate_days;
CREATE VIEW currency_rate_days AS
SELECT span_currency AS currency, toDate(span.1 + covered) AS day, span.2 AS rate
FROM
(
    SELECT span_currency, span
    FROM
    (
        SELECT
            currency AS span_currency,
            arraySort(p -> p.1, groupArray((day, rate))) AS points,
            arrayMap(p -> p.1, points) AS point_days,
            arrayPushFront(arrayPopFront(point_days), (SELECT first_rate_day FROM currency_reporting)) AS span_starts,
            arrayPushBack(arrayPopFront(point_days), (SELECT last_rate_day FROM currency_reporting) + 1) AS span_ends,
            arrayMap((p, s, e) -> (s, p.2, e), points, span_starts, span_ends) AS spans
        FROM currency_rates_current
        GROUP BY currency
    )
    ARRAY JOIN spans AS span
)
ARRAY JOIN range(toUInt32(span.3 - span.1)) AS covered;
