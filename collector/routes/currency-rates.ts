// The exchange rates API (admin token, registered inside the query API's scope by routes/query.ts): the rates
// person_orders converts revenue into one reporting currency with (docs/analytics.md, "Currencies").
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../errors';
import { parseCurrencyRates, type CurrencyRatesLoad } from '../query/currency-rates';
import type { ClickHouseClient } from '../warehouse/client';
import { currencyRateStore } from '../warehouse/currency-rates';
import { refuseInput } from './input-error';

function parsed(body: unknown): CurrencyRatesLoad {
  try {
    return parseCurrencyRates(body);
  } catch (error) {
    refuseInput(error, 'invalid_currency_rates');
  }
}

export const currencyRatesPath = '/v1/currency-rates';

/** PUT, GET and DELETE /v1/currency-rates on `scope`, which must already require the admin token. */
export function currencyRateRoutes(scope: FastifyInstance, client: ClickHouseClient): void {
  const rates = currencyRateStore(client);

  scope.put(currencyRatesPath, async (request) => {
    const outcome = await rates.load(parsed(request.body));
    if (!outcome.ok) {
      throw new HttpError(
        409,
        outcome.reason,
        `the loaded rates are in ${outcome.loadedIn}, not ${outcome.given}: a reporting currency applies to every rate, so delete them first (DELETE /v1/currency-rates) and load rates in ${outcome.given} again`,
        { reportingCurrency: outcome.loadedIn },
      );
    }
    return { reportingCurrency: outcome.reportingCurrency, loaded: outcome.loaded };
  });

  scope.get(currencyRatesPath, async () => rates.list());

  scope.delete(currencyRatesPath, async (_request, reply) => {
    await rates.clear();
    return reply.code(204).send();
  });
}
