// The erasure API on a real collector: admin token, every malformed body refused with a 400 naming the problem, a
// request answered 202 and shown pending, then done once the identity job's runner has carried it out.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendBatch, startTestCollector, type TestCollector } from '../../test/support/collector';
import { waitUntil } from '../../test/support/clickhouse';
import { startWarehouseJobs } from '../warehouse/jobs';

const adminToken = 'admin-token-0123456789';
let collector: TestCollector;

const api = (path: string, init: RequestInit = {}, token = adminToken) =>
  fetch(`${collector.url}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
const post = (body: unknown, token?: string) => api('/v1/erasures', { method: 'POST', body: JSON.stringify(body) }, token);
const get = async (id: string) => (await api(`/v1/erasures/${id}`)).json() as Promise<Record<string, unknown>>;

beforeAll(async () => {
  // No identity job on the collector's timer: the test starts one when it wants the erasure carried out.
  collector = await startTestCollector({}, { adminToken, warehouseJobs: { identityIntervalSeconds: 0, segmentIntervalSeconds: 0, identityOverlapSeconds: 86_400 } });
  const response = await sendBatch(collector, [
    { type: 'identify', anonymousId: 'dev-1', userId: 'ann', traits: { email: 'ann@example.com' } },
    { type: 'track', anonymousId: 'dev-1', userId: 'ann', event: 'Order Completed', properties: { revenue: 50 } },
  ]);
  expect(response.status).toBe(200);
});
afterAll(() => collector.close());

describe('POST and GET /v1/erasures', () => {
  it('answer 401 without the admin token or with a wrong one, recording nothing', async () => {
    for (const token of ['', 'wrong-token', collector.source.writeKey]) {
      for (const response of [await post({ userId: 'ann' }, token), await api(`/v1/erasures/${randomUUID()}`, {}, token)]) {
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toBe('Bearer');
        expect(((await response.json()) as { error: string }).error).toMatch(/admin_token/);
      }
    }
    expect(await collector.db.rows('SELECT id FROM erasures')).toEqual([]);
  });

  it('refuse a body that does not name exactly one identifier of the right type with a 400 naming the problem', async () => {
    const cases: [unknown, string][] = [
      [{}, 'body'],
      [[], 'body'],
      ['ann', 'body'],
      [null, 'body'],
      [{ userId: 'ann', email: 'ann@example.com' }, 'body'],
      [{ userId: 7 }, 'userId'],
      [{ anonymousId: '' }, 'anonymousId'],
      [{ email: ['ann@example.com'] }, 'email'],
      [{ email: 'not an e-mail' }, 'email'],
      [{ phone: 79991234567 }, 'phone'],
      [{ phone: '999 12 34' }, 'phone'],
      [{ name: 'ann' }, 'name'],
    ];
    for (const [body, path] of cases) {
      const response = await post(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(await response.json(), JSON.stringify(body)).toMatchObject({ error: 'invalid_erasure', path, message: expect.stringContaining(path) });
    }
    const empty = await api('/v1/erasures', { method: 'POST' });
    expect(empty.status).toBe(400);
    expect(await collector.db.rows('SELECT id FROM erasures')).toEqual([]);
  });

  it('answer 413 for a body over the limit, with advice that fits an erasure', async () => {
    const response = await post({ userId: 'x'.repeat(600 * 1024) });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: 'body_too_large', message: expect.stringMatching(/an erasure names one identifier of at most 1,000 characters$/) });
  });

  it('answer 404 for an erasure nobody asked for', async () => {
    const response = await api(`/v1/erasures/${randomUUID()}`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: string }).error).toBe('unknown_erasure');
  });

  it('answer 202 pending, and GET shows it pending, then done with the rows deleted once the identity job has run', async () => {
    const response = await post({ email: 'Ann@Example.com' });
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as { id: string; status: string };
    expect(accepted).toEqual({ id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/), status: 'pending' });
    expect(await get(accepted.id)).toEqual({ id: accepted.id, status: 'pending', requestedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) });

    const jobs = startWarehouseJobs(collector.config.clickhouse, { identityIntervalSeconds: 0.2, segmentIntervalSeconds: 0, identityOverlapSeconds: 86_400 }, { error: () => undefined }, { settleMs: 20 });
    try {
      const done = await waitUntil(() => get(accepted.id), (view) => view.status === 'done', 30_000);
      expect(done).toEqual({
        id: accepted.id,
        status: 'done',
        requestedAt: expect.any(String),
        finishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        deleted: expect.objectContaining({ events: 2, identity_edges: 3 }),
      });
    } finally {
      await jobs.stop();
    }
    expect(await collector.db.rows("SELECT message_id FROM events WHERE user_id = 'ann' OR anonymous_id = 'dev-1'")).toEqual([]);
  }, 60_000);
});
