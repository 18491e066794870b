// Validation of the exchange rates an operator loads (PUT /v1/currency-rates): what the currency_rates table
// (migrations/040_currencies.sql) may hold, so person_orders converts revenue with sound rates only.
import { isRecord, onlyFields, QueryInputError } from './conditions';
import { numberProblem } from './literal';

export interface CurrencyRate {
  /** ISO 4217 code, upper-cased. */
  currency: string;
  /** UTC day, YYYY-MM-DD. */
  day: string;
  /** The value of one unit of `currency` in the reporting currency on `day`: positive and finite. */
  rate: number;
}

export interface CurrencyRatesLoad {
  reportingCurrency: string;
  rates: CurrencyRate[];
}

/**
 * At most this many rates per request. The body limit (limits.requestBytes, 500 KB by default) allows about 8,000
 * rates of ~60 bytes: a longer history goes in several requests, or by INSERT (docs/analytics.md, "Currencies").
 */
export const maxRatesPerLoad = 10_000;

/** The days a Date holds on 18.16 and modern ClickHouse alike (18.16's date table ends with 2105). */
const firstDay = '1970-01-01';
const lastDay = '2105-12-31';

/**
 * An ISO 4217 code in its form (three letters, upper-cased). Whether the code is assigned is not checked: a
 * shop may sell in a currency newer than this list would be, and an unused code converts nothing.
 */
export function readCurrencyCode(value: unknown, path: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z]{3}$/.test(value)) {
    throw new QueryInputError(path, 'must be a three-letter ISO 4217 currency code, such as "EUR"');
  }
  return value.toUpperCase();
}

/** A calendar day as YYYY-MM-DD that exists (2026-02-30 does not) and that a Date holds. */
export function readDay(value: unknown, path: string): string {
  const problem = `must be a day as YYYY-MM-DD from ${firstDay} to ${lastDay}`;
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) throw new QueryInputError(path, problem);
  const ms = Date.parse(`${value}T00:00:00Z`);
  // Date.parse rolls 2026-02-30 over to March on some engines and refuses it on others: compare the round trip.
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) throw new QueryInputError(path, `${problem}; ${value} is not a calendar day`);
  if (value < firstDay || value > lastDay) throw new QueryInputError(path, problem);
  return value;
}

/** A rate: a positive finite JSON number that both ClickHouse versions read (no subnormals). */
export function readRate(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new QueryInputError(path, 'must be a positive number');
  const problem = numberProblem(value);
  if (problem) throw new QueryInputError(path, problem);
  return value;
}

/**
 * Validates a load of rates: `{"reportingCurrency": "USD", "rates": [{"currency", "day", "rate"}, …]}`. Throws
 * QueryInputError naming the path of the first problem (`reportingCurrency`, `rates[2].rate`, …).
 */
export function parseCurrencyRates(raw: unknown): CurrencyRatesLoad {
  if (!isRecord(raw)) throw new QueryInputError('body', 'must be a JSON object {"reportingCurrency", "rates"}');
  onlyFields(raw, ['reportingCurrency', 'rates'], 'body');
  const reportingCurrency = readCurrencyCode(raw.reportingCurrency, 'reportingCurrency');
  if (!Array.isArray(raw.rates) || raw.rates.length === 0 || raw.rates.length > maxRatesPerLoad) {
    throw new QueryInputError('rates', `must be an array of 1 to ${maxRatesPerLoad.toLocaleString('en-US')} rates {"currency", "day", "rate"}`);
  }
  const seen = new Map<string, number>();
  const rates = raw.rates.map((item: unknown, i): CurrencyRate => {
    const path = `rates[${i}]`;
    if (!isRecord(item)) throw new QueryInputError(path, 'must be an object {"currency", "day", "rate"}');
    onlyFields(item, ['currency', 'day', 'rate'], path);
    const currency = readCurrencyCode(item.currency, `${path}.currency`);
    if (currency === reportingCurrency) {
      throw new QueryInputError(`${path}.currency`, `${currency} is the reporting currency: its orders are taken as they are, without a rate`);
    }
    const day = readDay(item.day, `${path}.day`);
    const rate = readRate(item.rate, `${path}.rate`);
    // Two rates for one day in one load: which one would win is up to the storage, so neither is taken.
    const key = `${currency} ${day}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new QueryInputError(path, `repeats the currency and day of rates[${earlier}] (${currency}, ${day})`);
    seen.set(key, i);
    return { currency, day, rate };
  });
  return { reportingCurrency, rates };
}
