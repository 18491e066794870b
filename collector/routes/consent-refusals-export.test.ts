// Who an export leaves out after a reject-all (consent_refusals), through a real collector and ClickHouse, and what
// the record links. Pins two cases where the person's last decision was a grant and the export still leaves them
// out, and the linkage a warehouse reader can make on a day with one refusal (both documented in docs/analytics.md).
import { afterAll, describe, expect, it } from 'vitest';
import { startTestCollector, type TestCollector } from '../../test/support/collector';
import { waitUntil } from '../../test/support/clickhouse';
import { sha256 } from '../warehouse/identity/identifiers';

const adminToken = 'admin-token-0123456789';
const dayMs = 86_400_000;
const hourMs = 3_600_000;
const startOfToday = Math.floor(Date.now() / dayMs) * dayMs;
/** `n` days before today, at `hours` UTC. */
const at = (n: number, hours: number) => startOfToday - n * dayMs + hours * hourMs;
const iso = (ms: number) => new Date(ms).toISOString();
/** The same instant written in another UTC offset (`+02:00`). */
const isoIn = (ms: number, offsetHours: number) => {
  const local = new Date(ms + offsetHours * hourMs).toISOString().slice(0, 19);
  const sign = offsetHours < 0 ? '-' : '+';
  return `${local}${sign}${String(Math.abs(offsetHours)).padStart(2, '0')}:00`;
};

const grantAll = { categoryPreferences: { analytics: true, marketing: true } };
const rejectAll = { categoryPreferences: { analytics: false, marketing: false } };

let seq = 0;
const email = (name: string | number) => `p${typeof name === 'number' ? name : sha256(String(name)).slice(0, 12)}@example.com`;
const identify = (userId: string | number, ts: number | string, context: object = { consent: grantAll }, device = `dev-${String(userId)}`) => ({
  type: 'identify',
  messageId: `m-${++seq}`,
  anonymousId: device,
  userId,
  timestamp: typeof ts === 'string' ? ts : iso(ts),
  traits: { email: email(userId) },
  context,
});
const tracked = (userId: string | number | undefined, ts: number | string, context: object, device?: string) => ({
  type: 'track',
  event: 'Consent Updated',
  messageId: `m-${++seq}`,
  anonymousId: device ?? `dev-${String(userId)}`,
  ...(userId === undefined ? {} : { userId }),
  timestamp: typeof ts === 'string' ? ts : iso(ts),
  context,
});

describe('who an export leaves out after a reject-all', () => {
  let shop: TestCollector;
  let clock = 0;
  let accepted = 0;
  afterAll(() => shop?.close());

  const receive = async (when: number, batch: object[]) => {
    clock = when;
    const response = await fetch(`${shop.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch, writeKey: shop.source.writeKey }) });
    const body = (await response.json()) as { accepted: number; rejected: unknown[] };
    expect(body.rejected, JSON.stringify(body)).toEqual([]);
    accepted += body.accepted;
  };
  const api = (path: string, init: RequestInit = {}) => fetch(`${shop.url}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` } });

  it('late deliveries, UTC days, aliases, numeric and Unicode ids, devices, consent shapes, a default-deny state', async () => {
    shop = await startTestCollector(
      { analyticsConsentIds: ['C0002'], marketingConsentIds: ['C0004'] },
      { adminToken, warehouseJobs: { identityIntervalSeconds: 0.2, segmentIntervalSeconds: 0, identityOverlapSeconds: 7 * 86_400 } },
      { receiveClock: () => clock },
    );
    const unicode = ['Zoë-東京-😀', 'x\ud800y', ' sp ', 'tab\tid', 'bs\\id', 'e\u0301', 'nl\nid', 'q"\'id', '\u00a0nbsp', 'nul\u0000id', 'del\u007fid'];
    const oneTrustGranted = { consent: { categoryPreferences: { C0001: true, C0002: true, C0003: true, C0004: true } } };
    const oneTrustRejected = { consent: { categoryPreferences: { C0001: true, C0002: false, C0003: false, C0004: false } } };
    const rudderGranted = { consentManagement: { provider: 'oneTrust', allowedConsentIds: ['C0001', 'C0002', 'C0003', 'C0004'], deniedConsentIds: [] } };
    const rudderRejected = { consentManagement: { provider: 'oneTrust', allowedConsentIds: ['C0001'], deniedConsentIds: ['C0002', 'C0003', 'C0004'] } };
    const gcmGranted = { consent: { analytics_storage: 'granted', ad_user_data: 'granted', ad_personalization: 'granted', ad_storage: 'granted' } };
    const gcmDenied = { consent: { analytics_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied', ad_storage: 'denied' } };

    // Day -4: everyone grants (and identifies).
    await receive(at(4, 10), [
      ...['nxt', 'stg', 'lrf', 'ali-old', 'tzn', 'tzm', 'ctl'].map((u) => identify(u, at(4, 9))),
      { type: 'alias', messageId: `m-${++seq}`, anonymousId: 'dev-ali-old', userId: 'ali-new', previousId: 'ali-old', timestamp: iso(at(4, 9.5)), context: { consent: grantAll } },
      identify(77, at(4, 9)),
      identify('78', at(4, 9)),
      ...unicode.map((u) => identify(u, at(4, 9))),
      identify('sha', at(4, 9), { consent: grantAll }, 'dev-sh'),
      identify('udv', at(4, 9), { consent: grantAll }, 'dév-😀\ud800'),
      identify('ot', at(4, 9), oneTrustGranted),
      identify('rs', at(4, 9), rudderGranted),
      identify('gcm', at(4, 9), gcmGranted),
    ]);
    // Day -3: they reject all (their events lose their ids; a record is kept).
    await receive(at(3, 10), [
      ...['nxt', 'stg', 'ali-new'].map((u) => tracked(u, at(3, 9), { consent: rejectAll })),
      tracked('77', at(3, 9), { consent: rejectAll }),
      tracked(78, at(3, 9), { consent: rejectAll }),
      ...unicode.map((u) => tracked(u, at(3, 9), { consent: rejectAll })),
      tracked(undefined, at(3, 9), { consent: rejectAll }, 'dev-sh'),
      tracked(undefined, at(3, 9), { consent: rejectAll }, 'dév-😀\ud800'),
      tracked('ot', at(3, 9), oneTrustRejected),
      tracked('rs', at(3, 9), rudderRejected),
      tracked('gcm', at(3, 9), gcmDenied),
    ]);
    // Day -2: nxt and lrf grant again; shb logs in on sha's device (after its refusal).
    await receive(at(2, 10), [tracked('nxt', at(2, 9), { consent: grantAll }), tracked('lrf', at(2, 9), { consent: grantAll }), identify('shb', at(2, 9), { consent: grantAll }, 'dev-sh')]);
    // Day -2, noon: a first visit sends the consent tool's default state (Consent Mode: everything denied until the
    // visitor answers), then the visitor accepts everything and signs up a few minutes later.
    await receive(at(2, 12), [{ type: 'page', messageId: `m-${++seq}`, anonymousId: 'dev-cm', timestamp: iso(at(2, 12)), context: gcmDenied }]);
    await receive(at(2, 12.1), [identify('cmu', at(2, 12.1), gcmGranted, 'dev-cm')]);
    // UTC days: refusals received at 23:30 UTC on day -2; tzn grants at 23:45 UTC that day (01:45 the next day in
    // UTC+2), tzm at 00:30 UTC on day -1 (19:30 the day before in UTC-5).
    await receive(at(2, 23.5), [tracked('tzn', at(2, 23.5), { consent: rejectAll }), tracked('tzm', at(2, 23.5), { consent: rejectAll })]);
    await receive(at(2, 23.8), [tracked('tzn', isoIn(at(2, 23.75), 2), { consent: grantAll })]);
    await receive(at(1, 0.6), [tracked('tzm', isoIn(at(1, 0.5), -5), { consent: grantAll })]);
    // Day -1: late deliveries (an offline queue). stg's grant was made on day -4, before its refusal; lrf's refusal
    // was made on day -3, before its grant of day -2.
    await receive(at(1, 10), [tracked('stg', at(4, 11), { consent: grantAll }), tracked('lrf', at(3, 9), { consent: rejectAll })]);

    // Wait for the identity job and the shipper.
    await waitUntil(() => shop.db.rows<{ n: number }>('SELECT count() AS n FROM person_events'), (rows) => rows[0]?.n === accepted, 30_000);
    const refusalIds = 3 + 2 + unicode.length + 2 + 3 + 3 + 1; // nxt stg ali-new, 77 78, unicode, 2 devices, ot rs gcm, tzn tzm lrf, dev-cm
    await waitUntil(() => shop.db.rows('SELECT DISTINCT id_hash, id_kind FROM consent_refusals'), (rows) => rows.length === refusalIds);
    const created = await api('/v1/segments', { method: 'POST', body: JSON.stringify({ name: 'contacts', rule: { trait: 'email', op: 'exists' } }) });
    const { id } = (await created.json()) as { id: string };
    expect((await api(`/v1/segments/${id}/materialize`, { method: 'POST' })).status).toBe(200);
    const response = await api(`/v1/segments/${id}/export?format=vk`);
    expect(response.status).toBe(200);
    const text = await response.text();
    // 27 members with an e-mail; exported: nxt, shb, tzm, ctl.
    expect.soft(response.headers.get('x-tagflow-exported-persons')).toBe('4');
    expect.soft(response.headers.get('x-tagflow-left-out-for-consent')).toBe('23');
    const exported = (name: string | number) => text.includes(sha256(email(name)));

    // Correct as designed.
    expect.soft(exported('nxt'), 'refused on day -3, granted on day -2').toBe(true);
    expect.soft(exported('stg'), 'a stale grant (made before the refusal) delivered late').toBe(false);
    expect.soft(exported('ali-old'), 'the refusal of the alias id').toBe(false);
    expect.soft(exported(77), 'identified as 77, refused as "77"').toBe(false);
    expect.soft(exported('78'), 'identified as "78", refused as 78').toBe(false);
    for (const u of unicode) expect.soft(exported(u), `Unicode id ${JSON.stringify(u)}`).toBe(false);
    expect.soft(exported('sha'), "the device's owner when the device refused").toBe(false);
    expect.soft(exported('shb'), 'logged in on the device after its refusal').toBe(true);
    expect.soft(exported('udv'), 'a device id with non-ASCII and a lone surrogate').toBe(false);
    expect.soft(exported('ot'), "Segment's OneTrust shape").toBe(false);
    expect.soft(exported('rs'), "RudderStack's consentManagement").toBe(false);
    expect.soft(exported('gcm'), 'Consent Mode').toBe(false);
    expect.soft(exported('tzn'), 'a grant on the UTC day of the refusal (the next day in UTC+2)').toBe(false);
    expect.soft(exported('tzm'), 'a grant on the UTC day after the refusal (the same day in UTC-5)').toBe(true);
    expect.soft(exported('ctl'), 'control').toBe(true);
    // Left out though their last decision was a grant (documented):
    // a refusal is dated by its arrival, so one delivered late outweighs a grant made before it arrived;
    expect.soft(exported('lrf'), "a refusal made before the person's newest grant, delivered after it").toBe(false);
    // a consent tool's default state that denies everything is a refusal, and a grant the same day does not lift it.
    expect.soft(exported('cmu'), 'a default-deny state sent before the visitor accepted everything, the same day').toBe(false);
  }, 120_000);
});

describe('what the refusal record tells a warehouse reader', () => {
  const shops: TestCollector[] = [];
  afterAll(() => Promise.all(shops.map((s) => s.close())));

  async function start(overrides: Parameters<typeof startTestCollector>[0]) {
    let clock = 0;
    const shop = await startTestCollector(overrides, { adminToken, warehouseJobs: { identityIntervalSeconds: 0.2, segmentIntervalSeconds: 0, identityOverlapSeconds: 7 * 86_400 } }, { receiveClock: () => clock });
    shops.push(shop);
    const receive = async (when: number, batch: object[]) => {
      clock = when;
      const response = await fetch(`${shop.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch, writeKey: shop.source.writeKey }) });
      expect(response.status).toBe(200);
    };
    return { shop, receive };
  }

  it('on a day with one refusal, the stripped events of that day are the refusing person\'s (a documented limit)', async () => {
    const { shop, receive } = await start({});
    await receive(at(3, 10), [identify('solo', at(3, 10)), identify('other', at(3, 10))]);
    // Day -2: solo browses after rejecting all (a Segment consent wrapper sends the state with every event);
    // an anonymous visitor refuses analytics only.
    const page = (path: string, userId: string | undefined, consent: object, device: string) => ({
      type: 'page', messageId: `m-${++seq}`, anonymousId: device, ...(userId ? { userId } : {}), timestamp: iso(at(2, 11)), context: { consent, page: { path, url: `https://shop.example${path}` } },
    });
    await receive(at(2, 11), [page('/private/pregnancy-tests', 'solo', rejectAll, 'dev-solo'), page('/private/debt-advice', 'solo', rejectAll, 'dev-solo')]);
    await receive(at(2, 12), [page('/other', undefined, { categoryPreferences: { analytics: false } }, 'dev-x')]);
    await waitUntil(() => shop.db.rows("SELECT message_id FROM events WHERE user_id = '' AND anonymous_id = ''"), (rows) => rows.length === 3);
    await waitUntil(() => shop.db.rows("SELECT identifier FROM identities_current WHERE identifier LIKE 'user:%'"), (rows) => rows.length === 2);
    await waitUntil(() => shop.db.rows('SELECT id_hash FROM consent_refusals'), (rows) => rows.length === 1);
    // The same join the export makes (hash of the graph's user nodes), by the day only.
    const linked = await shop.db.rows<{ person: string; page_path: string }>(`
      SELECT person, page_path FROM
      (
          SELECT toDate(received_at) AS day, page_path FROM events
          WHERE user_id = '' AND anonymous_id = '' AND match(lower(consent), '"marketing":false')
      )
      ALL INNER JOIN
      (
          SELECT day, any(person) AS person FROM
          (
              SELECT refused_on AS day, id_hash FROM consent_refusals
          )
          ALL INNER JOIN
          (
              SELECT lower(hex(SHA256(substring(identifier, 6)))) AS id_hash, identifier AS person FROM identities_current WHERE identifier LIKE 'user:%'
          ) USING id_hash
          GROUP BY day HAVING count() = 1
      ) USING day
      ORDER BY page_path`);
    expect(linked).toEqual([
      { person: 'user:solo', page_path: '/private/debt-advice' },
      { person: 'user:solo', page_path: '/private/pregnancy-tests' },
    ]);
  }, 60_000);
});
