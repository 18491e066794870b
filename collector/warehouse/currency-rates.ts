// The exchange rates person_orders converts revenue with (table currency_rates, migrations/040_currencies.sql;
// views/012_currency_rates.sql): loaded by the operator, never downloaded.
import type { CurrencyRate, CurrencyRatesLoad } from '../query/currency-rates';
import { insertRows, queryRows, type ClickHouseClient } from './client';

/** What a load did: the rates stored, or why none were (the loaded rates are in another reporting currency). */
export type RatesLoadOutcome =
  | { ok: true; reportingCurrency: string; loaded: number }
  | { ok: false; reason: 'reporting_currency_changed'; loadedIn: string; given: string };

export interface LoadedRates {
  /** null while no rate is loaded: then no revenue is converted. */
  reportingCurrency: string | null;
  /** The rates in effect, by currency and day: the last load of each day, in the reporting currency. */
  rates: CurrencyRate[];
}

export function currencyRateStore(client: ClickHouseClient) {
  /** The reporting currency of the newest load ('' when none) and the highest version stored (0 when none). */
  const state = async (): Promise<{ reporting: string; version: number }> => {
    // (An alias never reuses a column's name: 18.16 would read `version` in argMax as the alias.)
    const [row] = await queryRows<{ reporting: string; newest: number }>(
      client,
      'SELECT upper(argMax(reporting_currency, version)) AS reporting, max(version) AS newest FROM currency_rates',
    );
    return { reporting: row?.reporting ?? '', version: Number(row?.newest ?? 0) };
  };

  return {
    /**
     * Adds `load`'s rates, replacing those of the same currency and day. Refused (nothing stored) when the
     * loaded rates are in another reporting currency: mixing the two would convert some orders into one unit
     * and some into another. clear() first to change it.
     */
    async load(load: CurrencyRatesLoad): Promise<RatesLoadOutcome> {
      const { reporting, version } = await state();
      if (reporting !== '' && reporting !== load.reportingCurrency) {
        return { ok: false, reason: 'reporting_currency_changed', loadedIn: reporting, given: load.reportingCurrency };
      }
      // Above every stored version, so this load replaces what it names even if the clock went back.
      const loadVersion = Math.max(Date.now(), version + 1);
      await insertRows(
        client,
        'currency_rates',
        load.rates.map((r) => ({ currency: r.currency, day: r.day, rate: r.rate, reporting_currency: load.reportingCurrency, version: loadVersion })),
      );
      return { ok: true, reportingCurrency: load.reportingCurrency, loaded: load.rates.length };
    },

    async list(): Promise<LoadedRates> {
      const [{ reporting }, rates] = await Promise.all([
        state(),
        // A Date comes out of JSONEachRow as YYYY-MM-DD.
        queryRows<CurrencyRate>(client, 'SELECT currency, day, rate FROM currency_rates_current ORDER BY currency, day'),
      ]);
      return { reportingCurrency: reporting === '' ? null : reporting, rates };
    },

    /** Removes every rate: revenue is then taken as the orders give it, until rates are loaded again. */
    async clear(): Promise<void> {
      await client.command({ query: 'TRUNCATE TABLE currency_rates' });
    },
  };
}

export type CurrencyRateStore = ReturnType<typeof currencyRateStore>;
