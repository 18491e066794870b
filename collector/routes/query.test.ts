// The query and segment APIs on a real collector: admin token, the identity job on the collector's
// timer, funnels, saved segments, paged members and hashed CSV exports.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCollector, type TestCollector } from '../../test/support/collector';
import { waitUntil } from '../../test/support/clickhouse';
import { sha256 } from '../warehouse/identity/identifiers';

const adminToken = 'admin-token-0123456789';
let collector: TestCollector;

const api = (path: string, init: RequestInit = {}, token = adminToken) =>
  fetch(`${collector.url}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string> | undefined) },
  });
const post = (path: string, body: unknown, token?: string) => api(path, { method: 'POST', body: JSON.stringify(body) }, token);
const del = (path: string, token?: string) => api(path, { method: 'DELETE' }, token);

interface SegmentList {
  segments: { id: string }[];
  invalid: { id: string; name: string; problem: string }[];
}
const listSegments = async () => (await (await api('/v1/segments')).json()) as SegmentList;
const createSegment = async (name: string, rule: unknown) => ((await (await post('/v1/segments', { name, rule })).json()) as { id: string }).id;

beforeAll(async () => {
  collector = await startTestCollector({}, { adminToken, warehouseJobs: { identityIntervalSeconds: 0.2, segmentIntervalSeconds: 0, identityOverlapSeconds: 86_400 } });
  const now = Date.now();
  const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
  const batch = [
    { type: 'page', anonymousId: 'dev-1', timestamp: at(50), properties: { path: '/' } },
    { type: 'track', anonymousId: 'dev-1', event: 'Product Added', timestamp: at(45), properties: { category: 'sneakers' } },
    { type: 'identify', anonymousId: 'dev-1', userId: 'ann', timestamp: at(44), traits: { email: ' Ann@Example.com', phone: '+7 (999) 123-45-67' } },
    { type: 'track', anonymousId: 'dev-1', userId: 'ann', event: 'Order Completed', timestamp: at(40), properties: { revenue: 50 } },
    { type: 'identify', anonymousId: 'dev-2', timestamp: at(30), traits: { email: 'ann@example.com' } },
    { type: 'track', anonymousId: 'dev-2', event: 'Product Added', timestamp: at(29), properties: { category: 'care' } },
    { type: 'track', anonymousId: 'dev-3', event: 'Product Added', timestamp: at(20), properties: { category: 'sneakers' } },
    { type: 'identify', anonymousId: 'dev-3', userId: 'bob', timestamp: at(19), traits: { email: 'bob@example.com' } },
  ];
  const response = await fetch(`${collector.url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ batch, sentAt: new Date(now).toISOString(), writeKey: collector.source.writeKey }),
  });
  expect(response.status).toBe(200);
});
afterAll(() => collector.close());

describe('query API', () => {
  it('refuses requests without the admin token, with a wrong one, or with a write key', async () => {
    for (const token of ['', 'wrong-token', collector.source.writeKey]) {
      const response = await api('/v1/segments', {}, token);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: string }).error).toMatch(/admin_token/);
    }
  });

  it('reads the Bearer scheme in any case (RFC 7235) and answers 401 with WWW-Authenticate: Bearer', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const response = await fetch(`${collector.url}/v1/segments`, { headers: { authorization: `${scheme} ${adminToken}` } });
      expect(response.status, scheme).toBe(200);
    }
    for (const authorization of ['', 'Bearer wrong-token', `Basic ${adminToken}`]) {
      const response = await fetch(`${collector.url}/v1/segments`, { headers: authorization ? { authorization } : {} });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
    }
  });

  it('refuses a members page whose limit or offset is not a plain whole number in range, naming it', async () => {
    const id = 'builtin_repeat_buyers';
    for (const [name, value] of [['limit', ''], ['limit', '%20'], ['limit', '0x10'], ['limit', '1e3'], ['limit', '1.0'], ['limit', '+5'], ['limit', '10001'], ['limit', '-1'], ['offset', ''], ['offset', '0x10'], ['offset', '1e3'], ['offset', ' 1'], ['limit', '1&limit=2']] as const) {
      const response = await api(`/v1/segments/${id}/members?${name}=${value}`);
      expect(response.status, `${name}=${value}`).toBe(400);
      const body = (await response.json()) as { error: string; message: string };
      expect(body.error).toBe('invalid_parameter');
      expect(body.message.startsWith(`${name} must be`), body.message).toBe(true);
    }
    expect(await (await api(`/v1/segments/${id}/members?limit=0010&offset=0`)).json()).toMatchObject({ limit: 10, offset: 0 });
    expect(await (await api(`/v1/segments/${id}/members?limit=10000`)).json()).toMatchObject({ limit: 10000 });
  });

  it('resolves identities on the collector timer: three devices, two people', async () => {
    const persons = await waitUntil(
      () => collector.db.rows<{ identifier: string; person_id: string }>('SELECT identifier, person_id FROM identities_current ORDER BY identifier'),
      (rows) => rows.length >= 8,
    );
    // The same run then appends the batch to person_events, which funnels and segments read.
    await waitUntil(() => collector.db.rows('SELECT message_id FROM person_events'), (rows) => rows.length === 8);
    const personOf = new Map(persons.map((r) => [r.identifier, r.person_id]));
    expect(['anon:dev-1', 'anon:dev-2', 'user:ann'].map((id) => personOf.get(id))).toEqual(['user:ann', 'user:ann', 'user:ann']);
    expect(personOf.get('anon:dev-3')).toBe('user:bob');
  });

  it('answers a funnel, and refuses one without steps or with a negative window', async () => {
    const ok = await post('/v1/query/funnel', { steps: [{ event: 'Product Added' }, { event: 'Order Completed' }], windowSeconds: 3600 });
    expect(await ok.json()).toEqual({ steps: [{ step: 1, persons: 2, conversion: 1 }, { step: 2, persons: 1, conversion: 0.5 }] });
    const none = await post('/v1/query/funnel', { steps: [], windowSeconds: 3600 });
    expect(none.status).toBe(400);
    expect(await none.json()).toMatchObject({ error: 'invalid_funnel', path: 'funnel.steps' });
    const negative = await post('/v1/query/funnel', { steps: [{ event: 'x' }], windowSeconds: -1 });
    expect(await negative.json()).toMatchObject({ error: 'invalid_funnel', path: 'funnel.windowSeconds' });
  });

  it('refuses funnel dates a DateTime cannot hold with a 400 naming the field, and answers the widest range', async () => {
    const funnel = (extra: Record<string, unknown>) => post('/v1/query/funnel', { steps: [{ event: 'Product Added' }], windowSeconds: 3600, ...extra });
    for (const from of ['+275760-09-13T00:00:00Z', '-000001-01-01T00:00:00Z', '+010000-01-01T00:00:00Z']) {
      const response = await funnel({ from });
      expect(response.status, from).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_funnel', path: 'funnel.from' });
    }
    const widest = await funnel({ from: '1970-01-01T00:00:00Z', to: '2105-12-31T23:59:59Z' });
    expect(await widest.json()).toEqual({ steps: [{ step: 1, persons: 2, conversion: 1 }] });
  });

  it('refuses a subnormal filter value (18.16 cannot parse it) with a 400 naming the field', async () => {
    const tiny = await post('/v1/query/funnel', { steps: [{ event: 'Product Added', where: [{ property: 'price', op: 'gt', value: 1e-310 }] }], windowSeconds: 60 });
    expect(tiny.status).toBe(400);
    expect(await tiny.json()).toMatchObject({ error: 'invalid_funnel', path: 'funnel.steps[0].where[0].value' });
  });

  it('refuses a segment with a subnormal value at creation (materialising it would fail on 18.16)', async () => {
    const response = await post('/v1/segments', { name: 'tiny', rule: { metric: 'ltv', op: 'gt', value: 5e-324 } });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_rule', path: 'rule.value' });
  });

  it('stores lone surrogates in a segment name as U+FFFD (as ingest does) and materialises a rule holding one', async () => {
    const created = await post('/v1/segments', { name: 'bad \ud800 name', rule: { event: 'cut \ud83d', withinDays: 7 } });
    expect(created.status).toBe(201);
    const { id, name } = (await created.json()) as { id: string; name: string };
    expect(name).toBe('bad \ufffd name');
    const list = (await (await api('/v1/segments')).json()) as { segments: { id: string; name: string }[] };
    expect(list.segments.find((s) => s.id === id)?.name).toBe('bad \ufffd name');
    expect(await (await post(`/v1/segments/${id}/materialize`, {})).json()).toMatchObject({ members: 0 });
  });

  it('saves, lists, materialises, pages and exports segments', async () => {
    const bad = await post('/v1/segments', { name: 'bad', rule: { all: [{ event: 'Product Added', where: [{ property: "x') --", op: 'eq', value: 'y' }] }] } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_rule', path: 'rule.all[0].where[0].property' });

    const created = await post('/v1/segments', { name: 'Carts', rule: { event: 'Product Added', withinDays: 7 } });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const list = (await (await api('/v1/segments')).json()) as { segments: { id: string }[] };
    expect(list.segments.map((s) => s.id)).toEqual(expect.arrayContaining([id, 'builtin_cart_abandoners', 'builtin_repeat_buyers', 'builtin_lapsed_customers', 'builtin_top_ltv_10', 'builtin_new_visitors']));

    expect(await (await post(`/v1/segments/${id}/materialize`, {})).json()).toMatchObject({ members: 2, entered: 2, left: 0 });
    const page2 = await (await api(`/v1/segments/${id}/members?limit=1&offset=1`)).json();
    expect(page2).toEqual({ segmentId: id, limit: 1, offset: 1, total: 2, members: ['user:bob'] });
    expect((await api(`/v1/segments/${id}/members?limit=-1`)).status).toBe(400);
    expect((await api('/v1/segments/nope/members')).status).toBe(404);

    const ann = sha256('ann@example.com');
    const bob = sha256('bob@example.com');
    const google = await api(`/v1/segments/${id}/export?format=google`);
    expect(google.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(await google.text()).toBe(`Email,Phone\r\n${ann},${sha256('+79991234567')}\r\n${bob},\r\n`);
    expect(await (await api(`/v1/segments/${id}/export?format=yandex`)).text()).toBe(`email,phone\r\n${ann},${sha256('79991234567')}\r\n${bob},\r\n`);
    expect(await (await api(`/v1/segments/${id}/export?format=vk`)).text()).toBe(`${ann}\r\n${sha256('79991234567')}\r\n${bob}\r\n`);
    expect((await api(`/v1/segments/${id}/export?format=csv`)).status).toBe(400);
  });
});

describe('deleting segments', () => {
  const memberRows = async (id: string) => (await collector.db.rows<{ n: number }>(`SELECT count() AS n FROM segment_members WHERE segment_id = '${id}'`))[0]?.n;

  it('deletes a saved segment: 204, then it is gone from every route and its members are removed', async () => {
    const id = await createSegment('Test carts', { event: 'Product Added', withinDays: 7 });
    expect(await (await post(`/v1/segments/${id}/materialize`, {})).json()).toMatchObject({ members: 2 });

    const deleted = await del(`/v1/segments/${id}`);
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');

    const list = await listSegments();
    expect([...list.segments, ...list.invalid].map((s) => s.id)).not.toContain(id);
    for (const gone of [api(`/v1/segments/${id}/members`), api(`/v1/segments/${id}/export`), post(`/v1/segments/${id}/materialize`, {})]) {
      const response = await gone;
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: 'unknown_segment' });
    }
    // The members are removed by a background mutation.
    await waitUntil(() => memberRows(id), (n) => n === 0);

    const again = await del(`/v1/segments/${id}`);
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ error: 'unknown_segment' });
  });

  it('refuses to delete a built-in segment (409) or an unknown one (404), and keeps the built-in', async () => {
    const builtin = await del('/v1/segments/builtin_repeat_buyers');
    expect(builtin.status).toBe(409);
    expect(await builtin.json()).toMatchObject({ error: 'builtin_segment', message: expect.stringMatching(/built-in/) });
    expect((await listSegments()).segments.map((s) => s.id)).toContain('builtin_repeat_buyers');

    const unknown = await del('/v1/segments/seg_does_not_exist');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'unknown_segment', message: 'no segment "seg_does_not_exist"' });
  });

  it('requires the admin token to delete', async () => {
    const id = await createSegment('Kept', { event: 'Product Added' });
    for (const token of ['', 'wrong-token', collector.source.writeKey]) {
      const response = await del(`/v1/segments/${id}`, token);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: string }).error).toMatch(/admin_token/);
    }
    expect((await listSegments()).segments.map((s) => s.id)).toContain(id);
  });

  it('lists a stored segment whose rule no longer validates under "invalid", and deletes it', async () => {
    // Saved before values 18.16 cannot read were refused at creation, and before 033 added `deleted`.
    const id = 'seg_saved_before_a_fix';
    await collector.db.client.insert({
      table: 'segments',
      values: [{ segment_id: id, name: 'tiny ltv', rule: '{"metric":"ltv","op":"gt","value":5e-324}', created_at: '2026-01-01 00:00:00', version: 1 }],
      format: 'JSONEachRow',
    });
    const before = await listSegments();
    expect(before.invalid).toEqual([{ id, name: 'tiny ltv', problem: expect.stringMatching(/^rule\.value: must be 0 or at least/) }]);
    expect(before.segments.map((s) => s.id)).not.toContain(id);

    expect((await del(`/v1/segments/${id}`)).status).toBe(204);
    expect((await listSegments()).invalid).toEqual([]);
  });
});

describe('a collector without an admin token, refreshing segments on its timer', () => {
  it('keeps the query API closed and materialises the built-in segments on schedule', async () => {
    const closed = await startTestCollector({}, { warehouseJobs: { identityIntervalSeconds: 0, segmentIntervalSeconds: 0.2, identityOverlapSeconds: 86_400 } });
    try {
      const response = await fetch(`${closed.url}/v1/segments`, { headers: { authorization: 'Bearer anything-at-all-123' } });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ error: 'admin_token_not_configured' });
      const refreshed = await waitUntil(
        () => closed.db.rows<{ segment_id: string }>('SELECT DISTINCT segment_id FROM segment_runs ORDER BY segment_id'),
        (rows) => rows.length >= 5,
      );
      expect(refreshed.map((r) => r.segment_id)).toEqual(['builtin_cart_abandoners', 'builtin_lapsed_customers', 'builtin_new_visitors', 'builtin_repeat_buyers', 'builtin_top_ltv_10']);
    } finally {
      await closed.close();
    }
  });
});
