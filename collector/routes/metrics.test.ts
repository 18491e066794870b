// GET /metrics on a real collector: the admin token by default (its labels name every source), open to
// anyone only with publicMetrics.
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCollector, type TestCollector } from '../../test/support/collector';
import { createMetrics } from '../metrics';
import { metricsRoutes } from './metrics';

const adminToken = 'admin-token-0123456789';
let guarded: TestCollector;
let open: TestCollector;
let tokenless: TestCollector;
beforeAll(async () => {
  [guarded, open, tokenless] = await Promise.all([startTestCollector({}, { adminToken }), startTestCollector({}, { publicMetrics: true }), startTestCollector()]);
});
afterAll(() => Promise.all([guarded?.close(), open?.close(), tokenless?.close()]));

const scrape = (target: TestCollector, authorization?: string) => fetch(`${target.url}/metrics`, { headers: authorization ? { authorization } : {} });

async function expectRefused(response: Response, code: string): Promise<string> {
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toBe('Bearer');
  const text = await response.text();
  expect(JSON.parse(text)).toMatchObject({ error: code, message: expect.any(String) });
  // Nothing of the metrics (the source ids in their labels) in the refusal.
  expect(text).not.toContain('test-source');
  return text;
}

describe('GET /metrics', () => {
  it('refuses a scrape without the admin token, with a wrong one, or with a write key', async () => {
    await expectRefused(await scrape(guarded), 'missing_admin_token');
    await expectRefused(await scrape(guarded, 'Bearer not-the-admin-token'), 'invalid_admin_token');
    await expectRefused(await scrape(guarded, `Bearer ${guarded.source.writeKey}`), 'invalid_admin_token');
    await expectRefused(await scrape(guarded, `Basic ${Buffer.from(`${guarded.source.writeKey}:`).toString('base64')}`), 'missing_admin_token');
  });

  it('serves the Prometheus text to a scrape with the admin token as a bearer token', async () => {
    const response = await scrape(guarded, `Bearer ${adminToken}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    expect(await response.text()).toMatch(/^tagflow_process_resident_memory_bytes \d+/m);
  });

  it('is open to anyone with publicMetrics: true', async () => {
    const response = await scrape(open);
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/^tagflow_process_resident_memory_bytes \d+/m);
  });

  it('without an admin token and without publicMetrics, is refused with a message saying what to set', async () => {
    const refusal = JSON.parse(await expectRefused(await scrape(tokenless, 'Bearer anything-at-all-here'), 'admin_token_not_configured')) as { message: string };
    expect(refusal.message).toContain('adminToken');
    expect(refusal.message).toContain('publicMetrics');
  });

  it('warns at start when no scrape can succeed (no adminToken and not public), and only then', async () => {
    const warnings = async (config: { adminToken?: string; publicMetrics?: boolean }) => {
      const lines: string[] = [];
      const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => void lines.push(line) } } });
      metricsRoutes(app, createMetrics(() => 0), config);
      await app.close();
      return lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    };
    expect(await warnings({})).toEqual([expect.stringContaining('GET /metrics answers 401 to every scrape')]);
    expect(await warnings({ adminToken })).toEqual([]);
    expect(await warnings({ publicMetrics: true })).toEqual([]);
  });
});
