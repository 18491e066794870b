-- Revenue in one reporting currency (views/012_currency_rates.sql, views/015_orders.sql, docs/analytics.md,
-- "Currencies"): a shop selling in EUR and USD would otherwise get LTVs that are sums of both units.
--
-- currency_rates: the exchange rates the operator loads. Nothing downloads rates: they come from
-- PUT /v1/currency-rates (collector/routes/currency-rates.ts) or a plain INSERT. Without a row here every revenue
-- figure is what the orders say, as before this migration.
--   * rate: the value of one unit of `currency` in `reporting_currency` on `day` (EUR 1.08 with reporting
--     currency USD: 100 EUR are 108 USD). Codes are ISO 4217 letters; the views read them upper-cased.
--   * reporting_currency: stored with every rate, so a load in another reporting currency never mixes with the
--     old rates. The views use the reporting currency of the newest load (highest version) and only the rates
--     given in it; the API refuses a load in another reporting currency until the old rates are deleted.
--   * version: when the row was loaded (ms since the epoch; a plain INSERT that leaves it out gets the current
--     second). Re-loading a (currency, day) replaces it: the views read the highest version of each (currency,
--     day) with argMax, so they are right before ReplacingMergeTree's merges remove the old rows.
-- A tiny table (a row per currency and day): the views turn it into a lookup joined once per order.
CREATE TABLE IF NOT EXISTS currency_rates
(
    currency            String,
    day                 Date,
    rate                Float64,
    reporting_currency  String,
    version             UInt64 DEFAULT toUInt64(now()) * 1000
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (currency, day);

-- currency on person_events_stored (and its staging twin, which REPLACE PARTITION requires to have the same
-- structure): properties.currency of an order or a refund, upper-cased ('' for other events and without one).
-- As a column, person_orders converts without parsing properties: the views that need no product categories
-- (ltv_cohort_monthly, ltv_by_segment, profiles, segment metrics) read no properties at all, as before, and
-- parsing them there made those views about 1.6x slower at 1M events.
-- MATERIALIZED, so the identity job's positional INSERT (jobs/attribute_person_events.sql) and migration 037's
-- copy are unchanged: ClickHouse computes it on insert. Rows stored before this migration have no data for it:
-- it is computed from properties when read, and written when their parts are merged or their bucket rewritten.
-- Like order_id, the first "currency" key of the properties (visitParamExtractString): a top-level one normally.
ALTER TABLE person_events_stored ADD COLUMN currency String MATERIALIZED if(event IN ('Order Completed', 'Order Refunded'), upper(visitParamExtractString(properties, 'currency')), '');
ALTER TABLE person_events_staging ADD COLUMN currency String MATERIALIZED if(event IN ('Order Completed', 'Order Refunded'), upper(visitParamExtractString(properties, 'currency')), '');
