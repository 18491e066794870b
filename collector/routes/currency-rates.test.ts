// The exchange rates API on a real collector: admin token, every refused field named, loads that replace a day,
// and a reporting currency that cannot change under loaded rates.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCollector, type TestCollector } from '../../test/support/collector';

const adminToken = 'admin-token-0123456789';
let collector: TestCollector;

const request = (method: string, body?: unknown, token = adminToken, rawBody?: string) =>
  fetch(`${collector.url}/v1/currency-rates`, {
    method,
    headers: { ...(body === undefined && rawBody === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(rawBody !== undefined ? { body: rawBody } : body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const put = (body: unknown, token?: string) => request('PUT', body, token);
const list = async () => (await request('GET')).json();

const eur = (day: string, rate: number) => ({ currency: 'EUR', day, rate });

beforeAll(async () => {
  collector = await startTestCollector({}, { adminToken, warehouseJobs: { identityIntervalSeconds: 0, segmentIntervalSeconds: 0, identityOverlapSeconds: 86_400 } });
});
afterAll(() => collector.close());

describe('PUT, GET and DELETE /v1/currency-rates', () => {
  it('answer 401 without the admin token or with a wrong one, storing nothing', async () => {
    for (const token of ['', 'wrong-token', collector.source.writeKey]) {
      for (const response of [await put({ reportingCurrency: 'USD', rates: [eur('2026-11-02', 1.08)] }, token), await request('GET', undefined, token), await request('DELETE', undefined, token)]) {
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toBe('Bearer');
        expect(((await response.json()) as { error: string }).error).toMatch(/admin_token/);
      }
    }
    expect(await list()).toEqual({ reportingCurrency: null, rates: [] });
  });

  it('answer another method with 405 naming the ones the path takes', async () => {
    const response = await request('POST', { reportingCurrency: 'USD', rates: [eur('2026-11-02', 1.08)] });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE');
  });

  it('refuse every malformed field with a 400 naming it, and store nothing of such a load', async () => {
    const ok = eur('2026-11-02', 1.08);
    const cases: [unknown, string][] = [
      [[ok], 'body'],
      [{ reportingCurrency: 'USD', rates: [ok], replace: true }, 'body.replace'],
      [{ rates: [ok] }, 'reportingCurrency'],
      [{ reportingCurrency: 'US', rates: [ok] }, 'reportingCurrency'],
      [{ reportingCurrency: 'US$', rates: [ok] }, 'reportingCurrency'],
      [{ reportingCurrency: 840, rates: [ok] }, 'reportingCurrency'],
      [{ reportingCurrency: 'USD' }, 'rates'],
      [{ reportingCurrency: 'USD', rates: [] }, 'rates'],
      [{ reportingCurrency: 'USD', rates: ok }, 'rates'],
      [{ reportingCurrency: 'USD', rates: [ok, 'EUR 1.08'] }, 'rates[1]'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, currency: 'EURO' }] }, 'rates[0].currency'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, currency: 'E1R' }] }, 'rates[0].currency'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, currency: 978 }] }, 'rates[0].currency'],
      [{ reportingCurrency: 'USD', rates: [ok, { ...ok, currency: 'usd' }] }, 'rates[1].currency'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, day: '2026-02-30' }] }, 'rates[0].day'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, day: '2026-11-1' }] }, 'rates[0].day'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, day: '2026-11-02T00:00:00Z' }] }, 'rates[0].day'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, day: '1969-12-31' }] }, 'rates[0].day'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, day: '2106-01-01' }] }, 'rates[0].day'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, day: 20261102 }] }, 'rates[0].day'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, rate: 0 }] }, 'rates[0].rate'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, rate: -1.08 }] }, 'rates[0].rate'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, rate: '1.08' }] }, 'rates[0].rate'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, rate: null }] }, 'rates[0].rate'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, rate: 1e-310 }] }, 'rates[0].rate'],
      [{ reportingCurrency: 'USD', rates: [{ currency: 'EUR', day: '2026-11-02' }] }, 'rates[0].rate'],
      [{ reportingCurrency: 'USD', rates: [{ ...ok, source: 'ECB' }] }, 'rates[0].source'],
      [{ reportingCurrency: 'USD', rates: [ok, eur('2026-11-03', 1.1), { ...ok, currency: 'eur', rate: 1.09 }] }, 'rates[2]'],
    ];
    for (const [body, path] of cases) {
      const response = await put(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const answer = (await response.json()) as { error: string; message: string; path: string };
      expect(answer, JSON.stringify(body)).toMatchObject({ error: 'invalid_currency_rates', path });
      expect(answer.message.startsWith(`${path}: `), answer.message).toBe(true);
    }
    // JSON has no Infinity, but a number too large for a double parses to it.
    const infinite = await request('PUT', undefined, adminToken, '{"reportingCurrency":"USD","rates":[{"currency":"EUR","day":"2026-11-02","rate":1e999}]}');
    expect(await infinite.json()).toMatchObject({ error: 'invalid_currency_rates', path: 'rates[0].rate' });
    // More rates than the body limit holds: 413, saying to split the load (the limit of 10,000 rates is beyond it).
    const many = Array.from({ length: 10_001 }, (_, i) => eur(new Date(Date.UTC(2000, 0, 1) + i * 86_400_000).toISOString().slice(0, 10), 1.0812345678));
    const tooLarge = await put({ reportingCurrency: 'USD', rates: many });
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: 'body_too_large', message: expect.stringMatching(/send the rates in several requests$/) });
    expect(await list()).toEqual({ reportingCurrency: null, rates: [] });
  });

  it('load rates (codes upper-cased), list them, and replace a day loaded again', async () => {
    const first = await put({ reportingCurrency: 'usd', rates: [{ currency: 'eur', day: '2026-11-02', rate: 1.08 }, eur('2026-11-03', 1.09), { currency: 'GBP', day: '2026-11-02', rate: 1.27 }] });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ reportingCurrency: 'USD', loaded: 3 });
    const again = await put({ reportingCurrency: 'USD', rates: [eur('2026-11-03', 1.1), eur('2026-11-04', 1.11)] });
    expect(await again.json()).toEqual({ reportingCurrency: 'USD', loaded: 2 });
    expect(await list()).toEqual({
      reportingCurrency: 'USD',
      rates: [eur('2026-11-02', 1.08), eur('2026-11-03', 1.1), eur('2026-11-04', 1.11), { currency: 'GBP', day: '2026-11-02', rate: 1.27 }],
    });
  });

  it('refuse (409) a load in another reporting currency while rates are loaded; after DELETE it is taken', async () => {
    const other = await put({ reportingCurrency: 'EUR', rates: [{ currency: 'USD', day: '2026-11-02', rate: 0.92 }] });
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({ error: 'reporting_currency_changed', reportingCurrency: 'USD', message: expect.stringMatching(/in USD, not EUR.*DELETE \/v1\/currency-rates/) });
    expect(((await list()) as { reportingCurrency: string }).reportingCurrency).toBe('USD');

    const deleted = await request('DELETE');
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    expect(await list()).toEqual({ reportingCurrency: null, rates: [] });

    expect(await (await put({ reportingCurrency: 'EUR', rates: [{ currency: 'USD', day: '2026-11-02', rate: 0.92 }] })).json()).toEqual({ reportingCurrency: 'EUR', loaded: 1 });
    expect(await list()).toEqual({ reportingCurrency: 'EUR', rates: [{ currency: 'USD', day: '2026-11-02', rate: 0.92 }] });
  });
});

describe('PUT /v1/currency-rates with an encoded body', () => {
  const encodedPut = (body: Uint8Array<ArrayBuffer> | string, encoding: string) =>
    fetch(`${collector.url}/v1/currency-rates`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'content-encoding': encoding, authorization: `Bearer ${adminToken}` },
      body,
    });
  const gzipped = (value: unknown) => new Uint8Array(gzipSync(JSON.stringify(value)));

  it('inflates a gzip body as the ingestion routes do', async () => {
    expect((await request('DELETE')).status).toBe(204);
    const response = await encodedPut(gzipped({ reportingCurrency: 'USD', rates: [eur('2026-11-05', 1.07)] }), 'gzip');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ reportingCurrency: 'USD', loaded: 1 });
    expect(await list()).toEqual({ reportingCurrency: 'USD', rates: [eur('2026-11-05', 1.07)] });
  });

  it('refuses a corrupt gzip body (400), another encoding (415) and one that inflates past the limit (413), storing nothing', async () => {
    expect((await request('DELETE')).status).toBe(204);
    const corrupt = await encodedPut(JSON.stringify({ reportingCurrency: 'USD', rates: [eur('2026-11-05', 1.07)] }), 'gzip');
    expect(corrupt.status).toBe(400);
    expect(await corrupt.json()).toMatchObject({ error: 'invalid_gzip' });

    const brotli = await encodedPut(JSON.stringify({ reportingCurrency: 'USD', rates: [eur('2026-11-05', 1.07)] }), 'br');
    expect(brotli.status).toBe(415);
    expect(await brotli.json()).toMatchObject({ error: 'unsupported_encoding', message: expect.stringMatching(/Content-Encoding br/) });

    // Small on the wire, over the body limit once inflated: the limit counts inflated bytes.
    const many = Array.from({ length: 10_001 }, (_, i) => eur(new Date(Date.UTC(2000, 0, 1) + i * 86_400_000).toISOString().slice(0, 10), 1.0812345678));
    const bomb = await encodedPut(gzipped({ reportingCurrency: 'USD', rates: many }), 'gzip');
    expect(bomb.status).toBe(413);
    expect(await bomb.json()).toMatchObject({ error: 'body_too_large', message: expect.stringMatching(/after gzip is inflated.*send the rates in several requests$/) });
    expect(await list()).toEqual({ reportingCurrency: null, rates: [] });
  });
});
