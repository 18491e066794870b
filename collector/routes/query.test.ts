// The query and segment APIs on a real collector: admin token, the identity job on the collector's
// timer, funnels, saved segments, paged members and hashed CSV exports.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCollector, type TestCollector } from '../../test/support/collector';
import { waitUntil } from '../../test/support/clickhouse';
import { exportFormats, type ExportFormat, type ExportRow } from '../query/export';
import { formatMembersCursor } from '../query/members-cursor';
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

  it('reads gzip-encoded funnel and segment bodies as the ingestion routes do', async () => {
    const gzipPost = (path: string, body: unknown) =>
      api(path, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: new Uint8Array(gzipSync(JSON.stringify(body))) });
    const funnel = await gzipPost('/v1/query/funnel', { steps: [{ event: 'Product Added' }, { event: 'Order Completed' }], windowSeconds: 3600 });
    expect(await funnel.json()).toEqual({ steps: [{ step: 1, persons: 2, conversion: 1 }, { step: 2, persons: 1, conversion: 0.5 }] });
    const segment = await gzipPost('/v1/segments', { name: 'gzipped', rule: { metric: 'ltv', op: 'gt', value: 5 } });
    expect(segment.status).toBe(201);
    const { id } = (await segment.json()) as { id: string };
    expect((await del(`/v1/segments/${id}`)).status).toBe(204);
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

  it('refuses a segment body with a field it does not know, naming it (as the funnel endpoint does)', async () => {
    const response = await post('/v1/segments', { name: 'typo', rule: { event: 'Product Added' }, withinDays: 7 });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_segment', path: 'segment.withinDays' });
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

  it('refuses a query body over the size limit with a message about the query, not about events', async () => {
    const response = await post('/v1/query/funnel', { steps: [{ event: 'x'.repeat(600 * 1024) }], windowSeconds: 60 });
    expect(response.status).toBe(413);
    const body = (await response.json()) as { error: string; message: string };
    expect(body.error).toBe('body_too_large');
    expect(body.message).toMatch(/send a smaller funnel query or segment rule$/);
    expect(body.message).not.toMatch(/events/);
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
    expect(page2).toMatchObject({ segmentId: id, limit: 1, offset: 1, total: 2, members: ['user:bob'] });
    expect((await api(`/v1/segments/${id}/members?limit=-1`)).status).toBe(400);
    expect((await api('/v1/segments/nope/members')).status).toBe(404);

    const ann = sha256('ann@example.com');
    const bob = sha256('bob@example.com');
    const google = await api(`/v1/segments/${id}/export?format=google`);
    expect(google.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(await google.text()).toBe(`Email,Phone\r\n${ann},${sha256('+79991234567')}\r\n${bob},\r\n`);
    expect(await (await api(`/v1/segments/${id}/export?format=yandex`)).text()).toBe(`email,phone\r\n${ann},${sha256('79991234567')}\r\n${bob},\r\n`);
    expect(await (await api(`/v1/segments/${id}/export?format=vk`)).text()).toBe(`${ann}\r\n${sha256('79991234567')}\r\n${bob}\r\n`);
    // Meta hashes phones as digits with the country code, no + (as yandex); a person's contacts on one row.
    const meta = await api(`/v1/segments/${id}/export?format=meta`);
    expect(meta.headers.get('content-disposition')).toBe(`attachment; filename="${id}-meta.csv"`);
    expect(await meta.text()).toBe(`email,email,email,phone,phone,phone\r\n${ann},,,${sha256('79991234567')},,\r\n${bob},,,,,\r\n`);
    expect((await api(`/v1/segments/${id}/export?format=csv`)).status).toBe(400);
  });
});

describe('paging the members of one run', () => {
  interface MembersPage {
    run: number | null;
    runId: string | null;
    computedAt: string | null;
    total: number;
    members: string[];
    next: string | null;
  }
  const page = async (id: string, query: string) => {
    const response = await api(`/v1/segments/${id}/members?${query}`);
    return { status: response.status, body: (await response.json()) as MembersPage & { error?: string; message?: string } };
  };
  /** Sends one `event` per anonymous id and waits until the identity job has them in person_events. */
  const visitWith = async (event: string, ids: string[]) => {
    const batch = ids.map((id) => ({ type: 'track', anonymousId: id, event, messageId: `${event}-${id}` }));
    const sent = await fetch(`${collector.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ batch, writeKey: collector.source.writeKey }),
    });
    expect(sent.status).toBe(200);
    const wanted = ids.map((id) => `anon:${id}`);
    await waitUntil(
      () => collector.db.rows<{ person_id: string }>(`SELECT person_id FROM person_events WHERE event = '${event}'`),
      (rows) => wanted.every((p) => rows.some((r) => r.person_id === p)),
    );
  };
  const visit = (...ids: string[]) => visitWith('Paged', ids);
  const refresh = async (id: string) => ((await (await post(`/v1/segments/${id}/materialize`, {})).json()) as { run: number; members: number });

  it('names the run of every page; with that run, page 2 comes from it after a refresh; without, from the newest', async () => {
    const id = await createSegment('Paged', { event: 'Paged', withinDays: 7 });
    const never = await page(id, 'limit=2');
    expect(never).toEqual({ status: 200, body: { segmentId: id, limit: 2, offset: 0, run: null, runId: null, computedAt: null, total: 0, members: [], next: null } });

    await visit('pg-1', 'pg-2', 'pg-3');
    const first = await refresh(id);
    const page1 = await page(id, 'limit=2');
    expect(page1.body).toMatchObject({ run: first.run, total: 3, members: ['anon:pg-1', 'anon:pg-2'] });
    expect(page1.body.computedAt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    const runId = page1.body.runId as string;
    expect(typeof runId).toBe('string');
    // Passing the run back gives the same answer.
    expect((await page(id, `limit=2&run=${encodeURIComponent(runId)}`)).body).toEqual(page1.body);

    // A refresh in between: pg-0 sorts first, so the newest run's page 2 would repeat pg-2.
    await visit('pg-0');
    const second = await refresh(id);
    expect(second).toMatchObject({ members: 4 });
    const page2 = await page(id, `limit=2&offset=2&run=${encodeURIComponent(runId)}`);
    expect(page2).toEqual({ status: 200, body: { segmentId: id, limit: 2, offset: 2, run: first.run, runId, computedAt: page1.body.computedAt, total: 3, members: ['anon:pg-3'], next: null } });
    const newest = await page(id, 'limit=2&offset=2');
    expect(newest.body).toMatchObject({ run: second.run, total: 4, members: ['anon:pg-2', 'anon:pg-3'] });
    expect(newest.body.runId).not.toBe(runId);

    // The run before the newest is kept; the one before that is gone once the next refresh is computed.
    await refresh(id);
    const gone = await page(id, `limit=2&offset=2&run=${encodeURIComponent(runId)}`);
    expect(gone.status).toBe(410);
    expect(gone.body).toMatchObject({ error: 'run_gone', message: expect.stringMatching(/start again from offset 0 without run/) });
    const previous = await page(id, `limit=2&offset=2&run=${encodeURIComponent(newest.body.runId as string)}`);
    expect(previous.body).toMatchObject({ run: second.run, total: 4, members: ['anon:pg-2', 'anon:pg-3'] });
    await refresh(id);
    expect((await page(id, `run=${encodeURIComponent(newest.body.runId as string)}`)).status).toBe(410);
  });

  it('refuses a malformed run with a 400 naming it, and a run the segment never had with a 404', async () => {
    const id = 'builtin_repeat_buyers';
    for (const value of ['', 'abc', '12', '-abc', '12-ab-cd', '1e3-ab', `12-${'a'.repeat(65)}`, '12-a%27b', '99999999999999999999-ab', '12-ab&run=12-ab']) {
      const response = await page(id, `run=${value}`);
      expect(response.status, value).toBe(400);
      expect(response.body).toMatchObject({ error: 'invalid_parameter', path: 'run', message: expect.stringMatching(/^run: must be/) });
    }
    const unknown = await page(id, 'run=12-0123456789abcdef');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: 'unknown_run', message: expect.stringMatching(/start again from offset 0 without run/) });
  });
  it('pages one run by cursor: each member once, in order, whatever the ids hold, though a refresh comes in between', async () => {
    // Quotes, backslashes (a lone one last), a SQL fragment, Unicode past the BMP, and ids that prefix each other.
    const ids = ["o'brien", "o'brien'", 'back\\slash', 'ends\\', '"quoted"', "x') OR 1=1 --", 'é', 'z', '\uFF5E', '😀', '日本', 'cur-1', 'cur-10', 'cur-2'];
    const id = await createSegment('Cursor paged', { event: 'Cursor Paged', withinDays: 7 });
    await visitWith('Cursor Paged', ids);
    const first = await refresh(id);
    const expected = ids.map((v) => `anon:${v}`).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

    const start = await page(id, 'limit=4');
    expect(start.body).toMatchObject({ run: first.run, offset: 0, total: ids.length, members: expected.slice(0, 4), next: expect.any(String) });
    const seen = [...start.body.members];
    let next = start.body.next;
    const cursors: string[] = [];
    // A refresh after the first page: anon:! sorts first, and would shift every page of the newest run by one.
    await visitWith('Cursor Paged', ['!first']);
    expect(await refresh(id)).toMatchObject({ members: ids.length + 1 });
    while (next !== null) {
      cursors.push(next);
      const { status, body } = await page(id, `limit=4&cursor=${encodeURIComponent(next)}`);
      expect(status).toBe(200);
      // The cursor's run, not the newest; no offset (the cursor says where the page starts).
      expect(body).toMatchObject({ segmentId: id, limit: 4, offset: null, run: first.run, runId: start.body.runId, total: ids.length });
      seen.push(...body.members);
      next = body.next;
    }
    expect(seen).toEqual(expected);
    expect(cursors).toHaveLength(3);

    // A page by cursor answers the same until the run is gone; then 410, as with run.
    const again = await page(id, `limit=4&cursor=${cursors[0]}`);
    expect(again.body.members).toEqual(expected.slice(4, 8));
    await refresh(id);
    const gone = await page(id, `limit=4&cursor=${cursors[0]}`);
    expect(gone.status).toBe(410);
    expect(gone.body).toMatchObject({ error: 'run_gone', message: expect.stringMatching(/^run \d+-[0-9a-f]{16} \(the run cursor pages\) of segment .* is gone: .*; start again without cursor$/) });
  });

  it('refuses a malformed cursor, or one sent with offset or run, with a 400 naming the parameter; a run never had, 404', async () => {
    const id = 'builtin_repeat_buyers';
    const valid = formatMembersCursor({ run: { run: 12, token: '0123456789abcdef' }, from: 'user:a' });
    for (const value of ['', 'abc!', `${valid}=`, Buffer.from('["12-ab"]').toString('base64url'), Buffer.from('["x","user:a"]').toString('base64url'), `${valid}&cursor=${valid}`]) {
      const response = await page(id, `cursor=${value}`);
      expect(response.status, value).toBe(400);
      expect(response.body).toMatchObject({ error: 'invalid_parameter', path: 'cursor', message: expect.stringMatching(/^cursor: must be the `next` of an earlier members answer/) });
    }
    for (const [name, query] of [['offset', `offset=0&cursor=${valid}`], ['run', `cursor=${valid}&run=12-0123456789abcdef`]] as const) {
      const response = await page(id, query);
      expect(response.status, query).toBe(400);
      expect(response.body).toMatchObject({ error: 'invalid_parameter', path: name, message: expect.stringMatching(new RegExp(`^${name} cannot be sent with cursor`)) });
    }
    const unknown = await page(id, `cursor=${valid}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: 'unknown_run', message: expect.stringMatching(/has no run 12-0123456789abcdef \(the run cursor pages\); start again without cursor$/) });
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

    // Stored but unusable: not "no segment", but what is wrong with it.
    for (const refused of [api(`/v1/segments/${id}/members`), api(`/v1/segments/${id}/export`), post(`/v1/segments/${id}/materialize`, {})]) {
      const response = await refused;
      expect(response.status).toBe(409);
      const body = (await response.json()) as { error: string; message: string; problem: string };
      expect(body).toMatchObject({ error: 'invalid_stored_segment', problem: expect.stringMatching(/^rule\.value: must be 0 or at least/) });
      expect(body.message).toMatch(/is stored, but its rule no longer validates \(rule\.value: must be 0/);
    }

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

/** The export as it was built before it streamed: every row, then one string (the oracle for the streamed bytes). */
function wholeCsv(format: ExportFormat, rows: readonly ExportRow[]): string {
  const out: string[][] = [];
  for (const row of rows) {
    const phones = format === 'google' ? row.phones : row.phone_digits;
    if (format === 'vk') {
      for (const id of [...row.emails, ...phones]) out.push([id]);
      continue;
    }
    const count = Math.max(row.emails.length, phones.length);
    for (let i = 0; i < count; i++) out.push([row.emails[i] ?? '', phones[i] ?? '']);
  }
  const lines = (all: string[][]) => `${all.map((r) => r.join(',')).join('\r\n')}\r\n`;
  if (format === 'meta') {
    // Up to three e-mails and three phones (digits) a row, as Meta's template has them.
    const metaRows: string[][] = [];
    for (const row of rows) {
      for (let i = 0; i < row.emails.length || i < row.phone_digits.length; i += 3) {
        metaRows.push([0, 1, 2].map((k) => row.emails[i + k] ?? '').concat([0, 1, 2].map((k) => row.phone_digits[i + k] ?? '')));
      }
    }
    return lines([['email', 'email', 'email', 'phone', 'phone', 'phone'], ...metaRows]);
  }
  if (format === 'vk') return lines(out);
  return lines([format === 'google' ? ['Email', 'Phone'] : ['email', 'phone'], ...out]);
}

describe('exports to ad platforms', () => {
  let shop: TestCollector;
  const shopApi = (path: string, init: RequestInit = {}) =>
    fetch(`${shop.url}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` } });
  const hash = (email: string) => sha256(email);
  interface Export {
    status: number;
    text: string;
    headers: Headers;
  }
  const exportOf = async (id: string, query: string): Promise<Export> => {
    const response = await shopApi(`/v1/segments/${id}/export?${query}`);
    return { status: response.status, text: await response.text(), headers: response.headers };
  };
  const counts = (e: Export) => ({
    requirement: e.headers.get('x-tagflow-consent-requirement'),
    exported: e.headers.get('x-tagflow-exported-persons'),
    leftOut: e.headers.get('x-tagflow-left-out-for-consent'),
    undecided: e.headers.get('x-tagflow-consent-undecided'),
  });
  let segment = '';

  beforeAll(async () => {
    shop = await startTestCollector({}, { adminToken, warehouseJobs: { identityIntervalSeconds: 0.2, segmentIntervalSeconds: 0, identityOverlapSeconds: 86_400 } });
    const now = Date.now();
    const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
    const person = (userId: string, minutesAgo: number, consent?: unknown, traits?: Record<string, unknown>) => ({
      type: 'identify',
      anonymousId: `dev-${userId}`,
      userId,
      timestamp: at(minutesAgo),
      traits: traits ?? { email: `${userId}@example.com` },
      ...(consent === undefined ? {} : { context: { consent } }),
    });
    const page = (userId: string, minutesAgo: number, context: Record<string, unknown>) => ({ type: 'page', anonymousId: `dev-${userId}`, userId, timestamp: at(minutesAgo), context });
    const batch = [
      // ann grants marketing (the SDK's purposes).
      person('ann', 50, { categoryPreferences: { necessary: true, analytics: true, marketing: true, personalization: false } }),
      // ivy refuses advertising (Segment/OneTrust category) and ad_user_data (Consent Mode) after identifying.
      person('ivy', 50),
      page('ivy', 40, { consent: { categoryPreferences: { analytics: true, advertising: false }, ad_user_data: 'denied' } }),
      // gus grants ad_user_data but denies ad_personalization, in capitals.
      person('gus', 50, { ad_user_data: 'granted', ad_personalization: 'DENIED', analytics_storage: 'granted' }),
      // una never says anything about consent.
      person('una', 50),
      // ola refuses marketing; a later consent about analytics only does not lift it.
      person('ola', 50, { categoryPreferences: { analytics: true, marketing: false } }),
      page('ola', 30, { consent: { categoryPreferences: { analytics: true } } }),
      // ron refused, then granted: the latest decision counts.
      person('ron', 50, { categoryPreferences: { analytics: true, marketing: false } }),
      page('ron', 30, { consent: { categoryPreferences: { analytics: true, marketing: true } } }),
      // rud: RudderStack with OneTrust, marketing (C0004) denied; stored as categoryPreferences.C0004 = false.
      { ...person('rud', 50), context: { consentManagement: { provider: 'oneTrust', allowedConsentIds: ['C0001', 'C0002'], deniedConsentIds: ['C0004'] } } },
      // pho: a phone only, with the trunk 0 written without brackets.
      person('pho', 50, undefined, { phone: '+44 020 7183 8750' }),
    ];
    const response = await fetch(`${shop.url}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ batch, sentAt: new Date(now).toISOString(), writeKey: shop.source.writeKey }),
    });
    expect(response.status).toBe(200);
    await waitUntil(() => shop.db.rows('SELECT message_id FROM person_events'), (rows) => rows.length === batch.length);
    const created = await shopApi('/v1/segments', { method: 'POST', body: JSON.stringify({ name: 'contacts', rule: { any: [{ trait: 'email', op: 'exists' }, { trait: 'phone', op: 'exists' }] } }) });
    segment = ((await created.json()) as { id: string }).id;
    expect(await (await shopApi(`/v1/segments/${segment}/materialize`, { method: 'POST' })).json()).toMatchObject({ members: 8 });
  }, 60_000);
  afterAll(() => shop.close());

  it('leave out whoever refused advertising, by default, and say how many in the headers', async () => {
    const google = await exportOf(segment, 'format=google');
    expect(google.status).toBe(200);
    // Sorted by person_id: ann, pho, ron, rud, una. ivy (advertising / ad_user_data), gus (ad_personalization)
    // and ola (marketing, not lifted by a later analytics-only consent) are left out.
    expect(google.text).toBe(
      `Email,Phone\r\n${hash('ann@example.com')},\r\n,${sha256('+442071838750')}\r\n${hash('ron@example.com')},\r\n${hash('rud@example.com')},\r\n${hash('una@example.com')},\r\n`,
    );
    for (const refused of ['ivy', 'gus', 'ola']) expect(google.text).not.toContain(hash(`${refused}@example.com`));
    expect(counts(google)).toEqual({ requirement: 'unless_denied', exported: '5', leftOut: '3', undecided: '3' });
    expect(counts(await exportOf(segment, 'format=vk&consent=unless_denied'))).toEqual(counts(google));
  });

  it('with consent=required, carry only those whose latest consent grants advertising', async () => {
    const required = await exportOf(segment, 'format=yandex&consent=required');
    expect(required.text).toBe(`email,phone\r\n${hash('ann@example.com')},\r\n${hash('ron@example.com')},\r\n`);
    expect(counts(required)).toEqual({ requirement: 'required', exported: '2', leftOut: '6', undecided: '3' });
  });

  it("read the consent tool's own marketing ids (OneTrust's C0004) when the export names them", async () => {
    const named = await exportOf(segment, 'format=vk&marketingConsentIds=C0004,c0005');
    expect(named.text).not.toContain(hash('rud@example.com'));
    expect(counts(named)).toEqual({ requirement: 'unless_denied', exported: '4', leftOut: '4', undecided: '2' });
    for (const query of ['consent=maybe', 'marketingConsentIds=', "marketingConsentIds=C0004'", 'marketingConsentIds=a|b']) {
      const refused = await exportOf(segment, query);
      expect(refused.status, query).toBe(400);
      expect(JSON.parse(refused.text)).toMatchObject({ error: 'invalid_parameter' });
    }
  });

  it('stream a segment larger than one chunk: the same bytes as the whole file built at once, without a Content-Length', async () => {
    const persons = 4000;
    const id = ((await (await shopApi('/v1/segments', { method: 'POST', body: JSON.stringify({ name: 'big', rule: { event: 'Nothing Like This' } }) })).json()) as { id: string }).id;
    const rows: ExportRow[] = [];
    const identities: object[] = [];
    for (let i = 0; i < persons; i++) {
      const personId = `user:big-${String(i).padStart(5, '0')}`;
      const emails = [sha256(`big${i}@example.com`), ...(i % 5 === 0 ? [sha256(`big${i}@work.example`)] : [])].sort();
      const phone = i % 3 === 0 ? `+7999${String(i).padStart(7, '0')}` : undefined;
      const nodes = [...emails.map((e) => `email:${e}`), ...(phone ? [`phone:${sha256(phone)}`, `phone_digits:${sha256(phone.slice(1))}`] : [])];
      for (const identifier of nodes) identities.push({ identifier, valid_from: '1970-01-01 00:00:00', person_id: personId, mapped_at: '2026-01-01 00:00:00', version: 1 });
      rows.push({ person_id: personId, emails, phones: phone ? [sha256(phone)] : [], phone_digits: phone ? [sha256(phone.slice(1))] : [] });
    }
    await shop.db.client.insert({ table: 'identities', values: identities, format: 'JSONEachRow' });
    const run = { segment_id: id, run: 1, run_token: 'big', computed_at: '2026-01-01 00:00:00' };
    await shop.db.client.insert({ table: 'segment_members', values: rows.map((r) => ({ ...run, person_id: r.person_id })), format: 'JSONEachRow' });
    await shop.db.client.insert({ table: 'segment_runs', values: [{ ...run, members: persons, entered_count: persons, left_count: 0 }], format: 'JSONEachRow' });

    for (const format of exportFormats) {
      const streamed = await shopApi(`/v1/segments/${id}/export?format=${format}`);
      expect(streamed.headers.get('content-length'), format).toBeNull();
      const text = await streamed.text();
      expect(text.length).toBeGreaterThan(256 * 1024);
      expect(text, format).toBe(wholeCsv(format, rows));
    }
    // Built by hand, as the format has always been (header, one line per e-mail/phone pair, CRLF).
    const google = await (await shopApi(`/v1/segments/${id}/export?format=google`)).text();
    expect(google.startsWith(`Email,Phone\r\n${sha256('big0@example.com') < sha256('big0@work.example') ? sha256('big0@example.com') : sha256('big0@work.example')},${sha256('+79990000000')}\r\n`)).toBe(true);
    expect(google.split('\r\n').length).toBe(1 + persons + persons / 5 + 1);
  });

  it("read each identifier's newest version only, and answer the counts alone when consent leaves everyone out", async () => {
    const id = ((await (await shopApi('/v1/segments', { method: 'POST', body: JSON.stringify({ name: 'versions', rule: { event: 'Nothing Like This Either' } }) })).json()) as { id: string }).id;
    const [moved, left, shared, old] = ['moved', 'left', 'shared', 'old'].map((name) => sha256(`${name}@versions.example`)) as [string, string, string, string];
    const at = (version: number, identifier: string, person: string, validFrom = '1970-01-01 00:00:00') => ({ identifier, valid_from: validFrom, person_id: person, mapped_at: '2026-01-01 00:00:00', version });
    await shop.db.client.insert({
      table: 'identities',
      values: [
        // Re-resolved from one member to another: only the newest owner carries it.
        at(1, `email:${moved}`, 'user:ver-a'),
        at(2, `email:${moved}`, 'user:ver-b'),
        // Re-resolved away from the segment: nobody carries it.
        at(1, `email:${left}`, 'user:ver-a'),
        at(2, `email:${left}`, 'user:ver-outsider'),
        // Newest version with two periods (a shared identifier): both of its persons, not the older version's.
        at(3, `email:${shared}`, 'user:ver-b'),
        at(3, `email:${shared}`, 'user:ver-c', '2026-05-01 00:00:00'),
        at(2, `email:${shared}`, 'user:ver-a'),
        // One version only.
        at(5, `email:${old}`, 'user:ver-c'),
      ],
      format: 'JSONEachRow',
    });
    const members = ['user:ver-a', 'user:ver-b', 'user:ver-c'];
    const run = { segment_id: id, run: 1, run_token: 'versions', computed_at: '2026-01-01 00:00:00' };
    await shop.db.client.insert({ table: 'segment_members', values: members.map((person_id) => ({ ...run, person_id })), format: 'JSONEachRow' });
    await shop.db.client.insert({ table: 'segment_runs', values: [{ ...run, members: 3, entered_count: 3, left_count: 0 }], format: 'JSONEachRow' });

    const exported = await exportOf(id, 'format=meta');
    expect(exported.text).toBe(`email,email,email,phone,phone,phone\r\n${[moved, shared].sort().join(',')},,,,\r\n${[old, shared].sort().join(',')},,,,\r\n`);
    expect(counts(exported)).toEqual({ requirement: 'unless_denied', exported: '2', leftOut: '0', undecided: '2' });
    // Nobody decided, so consent=required keeps nobody: the header line alone, the counts still told.
    for (const method of ['GET', 'HEAD']) {
      const response = await shopApi(`/v1/segments/${id}/export?consent=required`, { method });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(method === 'GET' ? 'Email,Phone\r\n' : '');
      expect(counts({ status: response.status, text: '', headers: response.headers })).toEqual({ requirement: 'required', exported: '0', leftOut: '2', undecided: '2' });
    }
  });
});

describe("exports and a source's configured marketing ids", () => {
  let shop: TestCollector;
  const shopApi = (path: string, init: RequestInit = {}) =>
    fetch(`${shop.url}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` } });
  afterAll(() => shop?.close());

  it("leave out a RudderStack visitor who denied the source's marketing id (OneTrust C0004) without naming it in the request", async () => {
    shop = await startTestCollector({ marketingConsentIds: ['C0004'] }, { adminToken, warehouseJobs: { identityIntervalSeconds: 0.2, segmentIntervalSeconds: 0, identityOverlapSeconds: 86_400 } });
    const identify = (userId: string, context: Record<string, unknown>) => ({ type: 'identify', anonymousId: `dev-${userId}`, userId, traits: { email: `${userId}@example.com` }, context });
    const batch = [
      identify('rud', { consentManagement: { provider: 'oneTrust', allowedConsentIds: ['C0001', 'C0002'], deniedConsentIds: ['C0004'] } }),
      identify('una', {}),
    ];
    const sent = await fetch(`${shop.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch, writeKey: shop.source.writeKey }) });
    expect(sent.status).toBe(200);
    await waitUntil(() => shop.db.rows('SELECT message_id FROM person_events'), (rows) => rows.length === batch.length);
    const created = await shopApi('/v1/segments', { method: 'POST', body: JSON.stringify({ name: 'contacts', rule: { trait: 'email', op: 'exists' } }) });
    const { id } = (await created.json()) as { id: string };
    expect(await (await shopApi(`/v1/segments/${id}/materialize`, { method: 'POST' })).json()).toMatchObject({ members: 2 });
    const exported = await shopApi(`/v1/segments/${id}/export?format=vk`);
    expect(await exported.text()).toBe(`${sha256('una@example.com')}\r\n`);
    expect(exported.headers.get('x-tagflow-left-out-for-consent')).toBe('1');
  }, 60_000);
});

describe('exports after a "reject all" whose event lost its ids (consent_refusals)', () => {
  const shops: TestCollector[] = [];
  afterAll(() => Promise.all(shops.map((s) => s.close())));
  const jobs = { adminToken, warehouseJobs: { identityIntervalSeconds: 0.2, segmentIntervalSeconds: 0, identityOverlapSeconds: 86_400 } };
  const grantAll = { categoryPreferences: { analytics: true, marketing: true } };
  const rejectAll = { categoryPreferences: { analytics: false, marketing: false } };
  const dayMs = 86_400_000;
  // Now, but at least an hour before the end of the UTC day: "the same day" must stay so while the test runs.
  const today = Math.min(Date.now(), Math.floor(Date.now() / dayMs) * dayMs + 23 * 3_600_000);
  const minutes = (n: number) => n * 60_000;
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const identify = (userId: string | number, at: number, consent?: unknown, device = `dev-${userId}`) => ({
    type: 'identify',
    anonymousId: device,
    userId,
    timestamp: new Date(at).toISOString(),
    traits: { email: `${userId}@example.com` },
    ...(consent === undefined ? {} : { context: { consent } }),
  });
  const consentUpdated = (userId: string | number | undefined, at: number, consent: unknown, device = `dev-${userId}`) => ({
    type: 'track',
    event: 'Consent Updated',
    anonymousId: device,
    ...(userId === undefined ? {} : { userId }),
    timestamp: new Date(at).toISOString(),
    context: { consent },
  });

  /** A collector whose receive clock the test sets (`shop.receive(at, batch)`): refusals are recorded on its day. */
  async function startShop(overrides: Parameters<typeof startTestCollector>[0] = {}) {
    let clock = today;
    const shop = await startTestCollector(overrides, jobs, { receiveClock: () => clock });
    shops.push(shop);
    const api = (path: string, init: RequestInit = {}) => fetch(`${shop.url}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` } });
    return {
      shop,
      async receive(at: number, batch: object[]) {
        clock = at;
        const response = await fetch(`${shop.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch, writeKey: shop.source.writeKey }) });
        expect(response.status).toBe(200);
        return (await response.json()) as { accepted: number; dropped?: number };
      },
      /** Waits for `stored` person_events and `refusals` distinct refusal ids, then exports everyone with an e-mail. */
      async exportAll(stored: number, refusals: number) {
        await waitUntil(() => shop.db.rows('SELECT message_id FROM person_events'), (rows) => rows.length === stored);
        await waitUntil(() => shop.db.rows('SELECT DISTINCT id_hash, id_kind FROM consent_refusals'), (rows) => rows.length === refusals);
        const created = await api('/v1/segments', { method: 'POST', body: JSON.stringify({ name: 'contacts', rule: { trait: 'email', op: 'exists' } }) });
        const { id } = (await created.json()) as { id: string };
        await api(`/v1/segments/${id}/materialize`, { method: 'POST' });
        return async (query: string) => {
          const response = await api(`/v1/segments/${id}/export?format=vk&${query}`);
          expect(response.status).toBe(200);
          return { text: await response.text(), leftOut: response.headers.get('x-tagflow-left-out-for-consent'), exported: response.headers.get('x-tagflow-exported-persons') };
        };
      },
    };
  }
  const emailsIn = (text: string, names: Array<string | number>) => names.filter((name) => text.includes(sha256(`${name}@example.com`)));

  it('leave out whoever refused all after a grant, undecided, or by a numeric userId or a device alone; a grant on a later day lifts it, one on the same day does not', async () => {
    const { shop, receive, exportAll } = await startShop();
    // Yesterday first (the identity job reads deliveries by when they were received).
    const yesterday = today - dayMs;
    await receive(yesterday, [identify('lat', yesterday - minutes(10), grantAll), consentUpdated('lat', yesterday - minutes(5), rejectAll)]);
    await receive(today - minutes(30), [
      // gra granted (a day earlier), then rejected all today: twice, in two requests.
      identify('gra', today - dayMs, grantAll),
      consentUpdated('gra', today - minutes(20), rejectAll),
      // und never decided, then rejected all.
      identify('und', today - minutes(60)),
      consentUpdated('und', today - minutes(20), rejectAll),
      // A shared device: ash granted and identified on it, then bea logged in there and rejected all.
      identify('ash', today - minutes(120), grantAll, 'dev-shared'),
      identify('bea', today - minutes(60), undefined, 'dev-shared'),
      consentUpdated('bea', today - minutes(50), rejectAll, 'dev-shared'),
      // sam rejected all, then granted again later the same day: the tie goes to the refusal.
      identify('sam', today - minutes(120)),
      consentUpdated('sam', today - minutes(40), rejectAll),
      // A numeric userId: the graph names it by its digits.
      identify(4242, today - minutes(60), grantAll),
      consentUpdated(4242, today - minutes(20), rejectAll),
      // ano identified on their device, then rejected all from it, logged out (no userId).
      identify('ano', today - minutes(60), grantAll),
      consentUpdated(undefined, today - minutes(20), rejectAll, 'dev-ano'),
      // ana refuses analytics only, anm analytics but grants marketing: no marketing refusal, no record.
      identify('ana', today - minutes(60), grantAll),
      consentUpdated('ana', today - minutes(20), { categoryPreferences: { analytics: false } }),
      identify('anm', today - minutes(60)),
      consentUpdated('anm', today - minutes(20), { categoryPreferences: { analytics: false, marketing: true } }),
      // kep refuses marketing on an event that keeps its ids: person_events carries it, no record.
      identify('kep', today - minutes(60), grantAll),
      consentUpdated('kep', today - minutes(20), { categoryPreferences: { analytics: true, marketing: false } }),
      identify('ctl', today - minutes(60), grantAll),
    ]);
    await receive(today - minutes(10), [consentUpdated('gra', today - minutes(10), rejectAll)]);
    // lat grants again today (a day after the refusal); sam the same day as theirs.
    await receive(today, [consentUpdated('lat', today, grantAll), consentUpdated('sam', today, grantAll)]);
    // 25 events stored (the stripped ones as persons of their own); records of lat, gra, und, bea, sam, 4242, dev-ano.
    const exportText = await exportAll(25, 7);

    const everyone = ['lat', 'gra', 'und', 'ash', 'bea', 'sam', 4242, 'ano', 'ana', 'anm', 'kep', 'ctl'];
    const byDefault = await exportText('consent=unless_denied');
    expect(emailsIn(byDefault.text, everyone)).toEqual(['lat', 'ash', 'ana', 'anm', 'ctl']);
    expect(byDefault).toMatchObject({ exported: '5', leftOut: '7' });
    const required = await exportText('consent=required');
    expect(emailsIn(required.text, everyone)).toEqual(['lat', 'ash', 'ana', 'ctl']);
    expect(required).toMatchObject({ exported: '4', leftOut: '8' });

    // What is stored: an id's hash, its kind and the day received. A userId when there is one (bea's device is
    // ash's too), the device only without one; nothing for ana, anm and kep.
    const columns = await shop.db.rows<{ name: string; type: string }>("SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'consent_refusals'");
    expect(columns).toEqual([
      { name: 'id_hash', type: 'String' },
      { name: 'id_kind', type: 'String' },
      { name: 'refused_on', type: 'Date' },
    ]);
    const stored = await shop.db.rows<{ id_hash: string; id_kind: string; refused_on: string }>('SELECT DISTINCT id_hash, id_kind, refused_on FROM consent_refusals ORDER BY id_kind, id_hash');
    const record = (id: string, kind: string, on: number) => ({ id_hash: sha256(id), id_kind: kind, refused_on: day(on) });
    expect(stored).toEqual(
      [record('lat', 'user', yesterday), ...['gra', 'und', 'bea', 'sam', '4242'].map((id) => record(id, 'user', today)), record('dev-ano', 'anon', today)].sort(
        (a, b) => a.id_kind.localeCompare(b.id_kind) || a.id_hash.localeCompare(b.id_hash),
      ),
    );
    // gra's two refusals (two requests, the same day) are the same row: nothing tells them apart.
    const gra = await shop.db.rows<Record<string, string>>(`SELECT * FROM consent_refusals WHERE id_hash = '${sha256('gra')}'`);
    expect(gra.length).toBeGreaterThanOrEqual(1);
    expect(new Set(gra.map((row) => JSON.stringify(row))).size).toBe(1);
    // The refusing events themselves are stored without ids, as before.
    const stripped = await shop.db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE event = 'Consent Updated' AND anonymous_id = '' AND user_id = ''");
    expect(stripped[0]?.n).toBe(10);
  }, 90_000);

  it('date a decision no later than the day it was received: a fast client clock cannot make a grant outlast a later refusal', async () => {
    const { receive, exportAll } = await startShop();
    // 23:00 UTC two days ago: fst grants from a device whose clock is 2 hours fast, with no sentAt to correct it, so
    // the event says 01:00 the next day (the collector takes timestamps up to a day ahead). Half an hour later,
    // still on that day, fst rejects all.
    const lateEvening = Math.floor(today / dayMs) * dayMs - dayMs - minutes(60);
    await receive(lateEvening - dayMs, [identify('fst', lateEvening - dayMs), identify('ctl', lateEvening - dayMs)]);
    await receive(lateEvening, [consentUpdated('fst', lateEvening + minutes(120), grantAll), consentUpdated('ctl', lateEvening, grantAll)]);
    await receive(lateEvening + minutes(30), [consentUpdated('fst', lateEvening + minutes(30), rejectAll)]);
    const exportText = await exportAll(5, 1);
    const exported = await exportText('consent=unless_denied');
    expect(emailsIn(exported.text, ['fst', 'ctl'])).toEqual(['ctl']);
    expect(exported).toMatchObject({ exported: '1', leftOut: '1' });
  }, 60_000);

  it('record the refusal under the drop policy too, though nothing of its event is stored', async () => {
    const { shop, receive, exportAll } = await startShop({ consentPolicy: 'drop' });
    const answer = await receive(today, [identify('gra', today - minutes(30), grantAll), consentUpdated('gra', today - minutes(10), rejectAll), identify('ctl', today - minutes(30), grantAll)]);
    expect(answer).toMatchObject({ accepted: 2, dropped: 1 });
    const exportText = await exportAll(2, 1);
    expect(await exportText('consent=required')).toMatchObject({ text: `${sha256('ctl@example.com')}\r\n`, leftOut: '1' });
    expect(await exportText('')).toMatchObject({ text: `${sha256('ctl@example.com')}\r\n`, leftOut: '1' });
    expect(await shop.db.rows("SELECT message_id FROM events WHERE event = 'Consent Updated'")).toEqual([]);
    expect(await shop.db.rows('SELECT id_hash, id_kind, refused_on FROM consent_refusals')).toEqual([{ id_hash: sha256('gra'), id_kind: 'user', refused_on: day(today) }]);
  }, 60_000);
});
