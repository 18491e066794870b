// processBatch: what is stored and what is quarantined, as pure data.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defaultLimits } from '../config';
import { readBatch, type BatchEnvelope } from './batch';
import { processBatch, type RequestContext } from './process';

const request: RequestContext = { source: 's', consentPolicy: 'strip', receivedAt: Date.now(), ip: '203.0.113.0', keepFullIp: false, userAgent: 'UA' };
/** The envelope as the route gets it: through readBatch, which checks the batch context once. */
const batch = (events: unknown[], context: Record<string, unknown> = {}): BatchEnvelope => {
  const read = readBatch({ batch: events, context });
  if (!read.ok) throw new Error(`readBatch refused the test batch: ${read.message}`);
  return read.batch;
};
const track = (extra: Record<string, unknown> = {}) => ({ type: 'track', event: 'E', anonymousId: 'anon-1', ...extra });

describe('readBatch: the batch context, checked once per request', () => {
  it('refuses a batch context larger than one event may be (it is copied into every event)', () => {
    const read = readBatch({ batch: [track()], context: { pad: 'x'.repeat(40_000) } });
    expect(read).toMatchObject({ ok: false, status: 400, error: 'context_too_large' });
    if (!read.ok) expect(read.message).toMatch(/batch context is 40,010 bytes.*at most 32,768/);
  });

  it('refuses with 413 when the copies of the batch context would add more than a request may hold', () => {
    // 2,000 tiny events and a 31 KB context: 62 MB of rows from a body gzip shrinks to a few hundred bytes.
    const read = readBatch({ batch: Array.from({ length: 2000 }, () => ({ type: 'page', anonymousId: 'a' })), context: { pad: 'x'.repeat(31_000) } });
    expect(read).toMatchObject({ ok: false, status: 413, error: 'body_too_large' });
    if (!read.ok) expect(read.message).toMatch(/batch context \(31,010 bytes\) copied into each of the 2,000 events adds 62,020,000 bytes; at most 512,000/);
  });

  it('refuses a batch context nested too deeply without overflowing the stack', () => {
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 10_000; i++) deep = (deep.next = {}) as Record<string, unknown>;
    expect(readBatch({ batch: [track()], context: root })).toMatchObject({ ok: false, status: 400, error: 'context_too_deep' });
    // 31 levels still fit: inside an event they make 32.
    let fits: Record<string, unknown> = {};
    const fitsRoot = fits;
    for (let i = 1; i < 31; i++) fits = (fits.next = {}) as Record<string, unknown>;
    expect(readBatch({ batch: [track()], context: fitsRoot }).ok).toBe(true);
  });

  it('takes what Segment and RudderStack libraries send: a few hundred bytes of context over hundreds of events', () => {
    const context = { library: { name: 'analytics-go', version: '3.3.0' }, app: { name: 'checkout', version: '2.1.0', build: '4411' }, os: { name: 'linux' }, note: 'n'.repeat(150) };
    const read = readBatch({ batch: Array.from({ length: 500 }, () => track()), context });
    expect(read.ok).toBe(true);
    const result = processBatch(batch(Array.from({ length: 500 }, () => track()), context), request, defaultLimits);
    expect(result.rows).toHaveLength(500);
    expect(JSON.parse(result.rows[499]?.context ?? '{}')).toEqual(context);
  });
});

describe('processBatch', () => {
  it('records each event\'s position in the batch, refused events counted, so events of one ms keep the client\'s order', () => {
    const result = processBatch(batch([track({ messageId: 'first' }), { type: 'track' }, track({ messageId: 'third' })]), request, defaultLimits);
    expect(result.rows.map((row) => [row.message_id, row.batch_position])).toEqual([['first', 0], ['third', 2]]);
  });

  it('counts the batch context toward each event size, so one request cannot multiply a large context', () => {
    const context = { pad: 'x'.repeat(20_000) };
    const result = processBatch(batch([track({ properties: { pad: 'p'.repeat(15_000) } }), track()], context), request, defaultLimits);
    expect(result.rows).toHaveLength(1);
    expect(result.rejected).toEqual([{ index: 0, reason: expect.stringMatching(/^event is 35,?\d{3} bytes with the batch context; at most 32768 bytes/) as unknown }]);
    // A small batch context still merges under the event's own.
    const small = processBatch(batch([track({ context: { locale: 'de' } })], { app: { name: 'pos' }, locale: 'en' }), request, defaultLimits);
    expect(JSON.parse(small.rows[0]?.context ?? '{}')).toEqual({ app: { name: 'pos' }, locale: 'de' });
  });

  it('measures an event exactly when its own context overrides a large part of the batch context', () => {
    // Counted whole, the batch context would make the event too large; stored, the event's own pad replaces it.
    const event = track({ context: { pad: 'e'.repeat(20_000) } });
    const result = processBatch(batch([event], { pad: 'b'.repeat(20_000), locale: 'en' }), request, defaultLimits);
    expect(result.rejected).toEqual([]);
    expect(JSON.parse(result.rows[0]?.context ?? '{}')).toEqual({ pad: 'e'.repeat(20_000), locale: 'en' });
  });

  it('refuses an event stored larger than the limit even when its body was smaller (numbers grow when written again)', () => {
    // 6,000 times `1e20` (4 bytes) in the body become 6,000 times `100000000000000000000` (21 bytes) stored.
    const body = `{"batch":[{"type":"track","event":"expand","anonymousId":"a","properties":{"n":[${Array(6000).fill('1e20').join(',')}]}}]}`;
    expect(Buffer.byteLength(body)).toBeLessThan(defaultLimits.eventBytes);
    const read = readBatch(JSON.parse(body));
    if (!read.ok) throw new Error(read.message);
    const result = processBatch(read.batch, request, defaultLimits, Buffer.byteLength(body));
    expect(result.rows).toHaveLength(0);
    expect(result.rejected[0]?.reason).toMatch(/^event is 132,?\d{3} bytes; at most 32768 bytes/);
    // A small body still skips the check and is stored.
    const small = '{"batch":[{"type":"track","event":"small","anonymousId":"a","properties":{"n":[1e20,1e20]}}]}';
    const smallRead = readBatch(JSON.parse(small));
    if (!smallRead.ok) throw new Error(smallRead.message);
    expect(processBatch(smallRead.batch, request, defaultLimits, Buffer.byteLength(small)).rows).toHaveLength(1);
  });

  it('anonymises context.ip in the quarantined copy of a refused event unless the source keeps full IPs', () => {
    const refused = { type: 'track', anonymousId: 'a', context: { ip: '203.0.113.77' } }; // no event name
    const anonymised = processBatch(batch([refused]), request, defaultLimits);
    expect(anonymised.rejected).toEqual([{ index: 0, reason: 'track needs an event name' }]);
    expect(JSON.parse(anonymised.quarantine[0]?.raw ?? '{}')).toEqual({ type: 'track', anonymousId: 'a', context: { ip: '203.0.113.0' } });
    const ipv6 = processBatch(batch([{ ...refused, context: { ip: '2001:db8:85a3::8a2e:370:7334' } }]), request, defaultLimits);
    expect(ipv6.quarantine[0]?.raw).not.toContain('7334');
    const kept = processBatch(batch([refused]), { ...request, keepFullIp: true }, defaultLimits);
    expect(JSON.parse(kept.quarantine[0]?.raw ?? '{}')).toEqual(refused);
  });

  it('anonymises an IP sent in the batch context', () => {
    const result = processBatch(batch([track(), track({ context: { locale: 'de' } })], { ip: '198.51.100.77' }), request, defaultLimits);
    expect(result.rows.map((row) => (JSON.parse(row.context) as { ip?: string }).ip)).toEqual(['198.51.100.0', '198.51.100.0']);
  });

  it('quarantines a refused event whose consent denies analytics without its identifiers', () => {
    const refused = { type: 'track', userId: 'u1', anonymousId: 'a1', traits: { email: 'a@b.c' }, context: { ip: '198.51.100.7', consent: { categoryPreferences: { analytics: false } } } };
    const result = processBatch(batch([refused]), request, defaultLimits);
    expect(result.rejected).toEqual([{ index: 0, reason: 'track needs an event name' }]);
    const kept = JSON.parse(result.quarantine[0]?.raw ?? '{}') as Record<string, unknown>;
    expect(kept).toEqual({ type: 'track', context: { consent: { categoryPreferences: { analytics: false } } } });
    // Without a denial the quarantine keeps the event as sent, for debugging.
    const plain = processBatch(batch([{ type: 'track', userId: 'u1' }]), request, defaultLimits);
    expect(JSON.parse(plain.quarantine[0]?.raw ?? '{}')).toEqual({ type: 'track', userId: 'u1' });
  });

  it('applies a batch-level denial when the event has a consent object of its own (either denial wins)', () => {
    // The audit's repro: the event's consent speaks of marketing only; the batch's denies analytics.
    const own = track({ userId: 'user-1', context: { consent: { categoryPreferences: { marketing: true } } } });
    const batchDenies = { consent: { categoryPreferences: { analytics: false } } };
    const stripped = processBatch(batch([own], batchDenies), request, defaultLimits);
    expect(stripped).toMatchObject({ stripped: 1, dropped: 0 });
    expect(stripped.rows.map((row) => [row.anonymous_id, row.user_id, row.ip])).toEqual([['', '', '']]);
    const dropped = processBatch(batch([own], batchDenies), { ...request, consentPolicy: 'drop' }, defaultLimits);
    expect(dropped).toMatchObject({ rows: [], quarantine: [], dropped: 1 });
    // And the other way round: the event's own denial under a batch context that grants.
    const ownDenies = track({ context: { consent: { analytics_storage: 'DENIED' } } });
    expect(processBatch(batch([ownDenies], { consent: { analytics_storage: 'granted' } }), request, defaultLimits).rows[0]?.anonymous_id).toBe('');
    // A refused event under a batch-level denial is quarantined without its identifiers too.
    const refused = processBatch(batch([{ type: 'track', userId: 'u1', context: { consent: { marketing: true } } }], batchDenies), request, defaultLimits);
    expect(JSON.parse(refused.quarantine[0]?.raw ?? '{}')).toEqual({ type: 'track', context: { consent: { marketing: true } } });
  });

  it("applies a RudderStack client's denial (context.consentManagement), the event's or its batch's", () => {
    const rudder = (consentManagement: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      track({ userId: 'user-1', context: { library: { name: 'RudderLabs JavaScript SDK' }, consentManagement }, ...extra });
    const ketch = { provider: 'ketch', allowedConsentIds: ['essential'], deniedConsentIds: ['analytics'], resolutionStrategy: 'or' };
    const stripped = processBatch(batch([rudder(ketch)]), request, defaultLimits);
    expect(stripped).toMatchObject({ stripped: 1 });
    expect(stripped.rows.map((row) => [row.anonymous_id, row.user_id, row.ip])).toEqual([['', '', '']]);
    expect(processBatch(batch([rudder(ketch)]), { ...request, consentPolicy: 'drop' }, defaultLimits)).toMatchObject({ rows: [], dropped: 1 });
    expect(processBatch(batch([track()], { consentManagement: ketch }), request, defaultLimits).rows[0]?.anonymous_id).toBe('');
    // OneTrust's ids mean analytics only where the source says which: its analyticsConsentIds.
    const oneTrust = (allowed: string[], denied: string[]) => rudder({ provider: 'oneTrust', allowedConsentIds: allowed, deniedConsentIds: denied, resolutionStrategy: 'and' });
    const mapped = { ...request, analyticsConsentIds: ['C0002'] };
    expect(processBatch(batch([oneTrust(['C0001'], ['C0002'])]), mapped, defaultLimits).rows[0]?.anonymous_id).toBe('');
    expect(processBatch(batch([oneTrust(['C0001', 'C0002'], ['C0004'])]), mapped, defaultLimits).rows[0]?.anonymous_id).toBe('anon-1');
    expect(processBatch(batch([oneTrust(['C0001'], ['C0002'])]), request, defaultLimits).rows[0]?.anonymous_id).toBe('anon-1');
  });

  it('stores the consent it applied: a batch denial over an event granting in its own object reads as denied, and by what', () => {
    const sent = { categoryPreferences: { analytics: true, marketing: true }, analytics_storage: 'granted' };
    const own = track({ context: { consent: sent } });
    const result = processBatch(batch([own], { consent: { categoryPreferences: { analytics: false } } }), request, defaultLimits);
    expect(JSON.parse(result.rows[0]?.consent ?? '{}')).toEqual({
      categoryPreferences: { analytics: false, marketing: true },
      analytics_storage: 'denied',
      analyticsDeniedBy: ['batch context.consent.categoryPreferences.analytics'],
    });
    // The context keeps the event's consent as it was sent.
    expect(JSON.parse(result.rows[0]?.context ?? '{}')).toMatchObject({ consent: sent });
    // The event's own denial, and a RudderStack one (stored in the shape its undenied events get, so that its
    // marketing ids stay on record), say so too.
    const ownDenial = processBatch(batch([track({ context: { consent: { analytics_storage: 'denied' } } })]), request, defaultLimits);
    expect(JSON.parse(ownDenial.rows[0]?.consent ?? '{}')).toEqual({ analytics_storage: 'denied', categoryPreferences: { analytics: false }, analyticsDeniedBy: ['context.consent.analytics_storage'] });
    const rudder = track({ context: { consentManagement: { provider: 'oneTrust', allowedConsentIds: ['C0001'], deniedConsentIds: ['C0002', 'C0004'] } } });
    const rudderDenial = processBatch(batch([rudder]), { ...request, analyticsConsentIds: ['C0002'] }, defaultLimits);
    expect(JSON.parse(rudderDenial.rows[0]?.consent ?? '{}')).toEqual({
      categoryPreferences: { C0001: true, C0002: false, C0004: false, analytics: false },
      provider: 'oneTrust',
      analyticsDeniedBy: ['context.consentManagement.deniedConsentIds: C0002'],
    });
    // Without a denial the stored consent is the event's, unchanged.
    const granted = processBatch(batch([own], { consent: { categoryPreferences: { analytics: true } } }), request, defaultLimits);
    expect(granted.rows[0]?.consent).toBe(JSON.stringify(sent));
  });

  it("stores a RudderStack client's consent (context.consentManagement) as categoryPreferences, the event's or its batch's", () => {
    const oneTrust = { provider: 'oneTrust', allowedConsentIds: ['C0001', 'C0002'], deniedConsentIds: ['C0004'], resolutionStrategy: 'and' };
    const mapped = { ...request, analyticsConsentIds: ['C0002'] };
    const expected = { categoryPreferences: { C0001: true, C0002: true, C0004: false, analytics: true }, provider: 'oneTrust' };
    const own = processBatch(batch([track({ context: { consentManagement: oneTrust } })]), mapped, defaultLimits);
    expect(own.rows[0]).toMatchObject({ anonymous_id: 'anon-1' });
    expect(JSON.parse(own.rows[0]?.consent ?? '')).toEqual(expected);
    const ofBatch = processBatch(batch([track()], { consentManagement: oneTrust }), mapped, defaultLimits);
    expect(JSON.parse(ofBatch.rows[0]?.consent ?? '')).toEqual(expected);
    // An event with a consent object of Segment's shape stores that, as before.
    const both = processBatch(batch([track({ context: { consent: { categoryPreferences: { analytics: true } }, consentManagement: oneTrust } })]), mapped, defaultLimits);
    expect(JSON.parse(both.rows[0]?.consent ?? '')).toEqual({ categoryPreferences: { analytics: true } });
    // Nothing decided yet: {} as for an event without consent (profiles keep the visitor's last decision).
    const undecided = processBatch(batch([track({ context: { consentManagement: { provider: 'oneTrust', allowedConsentIds: [], deniedConsentIds: [] } } })]), mapped, defaultLimits);
    expect(undecided.rows[0]?.consent).toBe('{}');
  });

  it('stores nothing of a denied event under the drop policy, valid or not, and counts it as dropped', () => {
    const drop = { ...request, consentPolicy: 'drop' as const };
    const denied = { consent: { analytics: 'false' } };
    const events = [
      { type: 'track', userId: 'u1', context: denied }, // no event name
      { type: 'track', event: 'E', userId: 'u1', context: denied, timestamp: '1990-01-01T00:00:00Z' }, // implausible time
      { type: 'nope', userId: 'u1', context: denied }, // unknown type
      { type: 'track', event: 'E', userId: 'u2' }, // no denial: stored
      { type: 'track', userId: 'u3' }, // no denial, no event name: quarantined
    ];
    const result = processBatch(batch(events), drop, defaultLimits);
    expect(result.rows.map((row) => row.user_id)).toEqual(['u2']);
    expect(result.quarantine.map((row) => JSON.parse(row.raw) as unknown)).toEqual([{ type: 'track', userId: 'u3' }]);
    expect(result.rejected).toEqual([{ index: 4, reason: 'track needs an event name' }]);
    expect(result.dropped).toBe(3);
    // A batch-level denial drops every event of the batch, even one that is not an object.
    const all = processBatch(batch([{ type: 'track' }, 'x'], { consent: { analytics: false } }), drop, defaultLimits);
    expect(all).toMatchObject({ rows: [], quarantine: [], rejected: [], rejectedCodes: [], dropped: 2 });
  });

  it('anonymises an IP sent in context.ip unless the source keeps full IPs', () => {
    const sent = track({ context: { ip: '198.51.100.77' } });
    const anonymised = processBatch(batch([sent]), request, defaultLimits);
    expect(JSON.parse(anonymised.rows[0]?.context ?? '{}')).toMatchObject({ ip: '198.51.100.0' });
    const kept = processBatch(batch([sent]), { ...request, keepFullIp: true }, defaultLimits);
    expect(JSON.parse(kept.rows[0]?.context ?? '{}')).toMatchObject({ ip: '198.51.100.77' });
  });

  it('stores no context.ip of another shape whole: an array or number is read as text and anonymised, anything else emptied', () => {
    const shapes = [['198.51.100.77'], { v4: '198.51.100.77' }, 3325256781];
    const result = processBatch(batch([...shapes.map((ip) => track({ context: { ip } })), track()], { ip: ['203.0.113.9'] }), request, defaultLimits);
    expect(result.rows.map((row) => (JSON.parse(row.context) as { ip?: unknown }).ip)).toEqual(['198.51.100.0', '', '', '203.0.113.0']);
    const refused = processBatch(batch([{ type: 'track', anonymousId: 'a', context: { ip: ['203.0.113.77'] } }]), request, defaultLimits);
    expect(JSON.parse(refused.quarantine[0]?.raw ?? '{}')).toMatchObject({ context: { ip: '203.0.113.0' } });
  });
});
describe("processBatch: a RudderStack allow-list without the source's marketing ids", () => {
  it('stores each missing marketing id as refused (false) when the allow-list is not empty, as for analytics', () => {
    const event = (consentManagement: unknown) => track({ context: { consentManagement } });
    const out = processBatch(
      batch([event({ provider: 'oneTrust', allowedConsentIds: ['C0001', 'C0002'] }), event({ allowedConsentIds: ['C0001', 'c0004'] }), event({ allowedConsentIds: [], deniedConsentIds: [] })]),
      { ...request, marketingConsentIds: ['C0004'] },
      defaultLimits,
    );
    expect(out.rows.map((row) => JSON.parse(row.consent))).toEqual([
      { categoryPreferences: { C0001: true, C0002: true, C0004: false }, provider: 'oneTrust' },
      { categoryPreferences: { C0001: true, c0004: true } },
      {},
    ]);
  });
});

describe('processBatch: the record of a "reject all" whose event loses its ids', () => {
  const hex = (id: string) => createHash('sha256').update(id, 'utf8').digest('hex');
  const rejectAll = { consent: { categoryPreferences: { analytics: false, marketing: false } } };
  // 23:59:59.5 UTC: the record's day is the receive day, whatever the event says.
  const lateAt = Date.UTC(2026, 10, 23, 23, 59, 59, 500);
  const late = { ...request, receivedAt: lateAt };
  const refusal = (extra: Record<string, unknown> = {}) => track({ userId: 'user-7', anonymousId: 'anon-7', context: rejectAll, timestamp: new Date(lateAt - 3 * 86_400_000).toISOString(), ...extra });

  it("records the userId's hash, its kind and the receive day, nothing else, once per request", () => {
    const out = processBatch(batch([track(), refusal(), refusal({ messageId: 'other' })]), late, defaultLimits);
    expect(out.rows.map((row) => [row.anonymous_id, row.user_id])).toEqual([['anon-1', ''], ['', ''], ['', '']]);
    expect(out.refusals).toEqual([{ id_hash: hex('user-7'), id_kind: 'user', refused_on: '2026-11-23' }]);
  });

  it('records the device only when there is no userId (a login on a shared device names the previous owner)', () => {
    const out = processBatch(batch([refusal({ userId: undefined }), refusal({ userId: '', anonymousId: 'anon-8' }), refusal({ userId: '  ', anonymousId: 'anon-9' })]), late, defaultLimits);
    expect(out.refusals).toEqual(['anon-7', 'anon-8', 'anon-9'].map((id) => ({ id_hash: hex(id), id_kind: 'anon', refused_on: '2026-11-23' })));
  });

  it('records the device, not a placeholder userId ("undefined", the config\'s blockedIds), and nothing for a placeholder device', () => {
    const blocked = { ...late, blockedIds: new Set(['abc123']) };
    const out = processBatch(batch([refusal({ userId: 'undefined', anonymousId: 'anon-7' }), refusal({ userId: 'ABC123', anonymousId: 'anon-8' }), refusal({ userId: 'null', anonymousId: '0' })]), blocked, defaultLimits);
    expect(out.stripped).toBe(3);
    expect(out.refusals).toEqual(['anon-7', 'anon-8'].map((id) => ({ id_hash: hex(id), id_kind: 'anon', refused_on: '2026-11-23' })));
  });

  it("records no device of the Tagflow SDK's cookieless events (a per-page id, sent with every page of an undecided visitor too)", () => {
    const sdk = { library: { name: 'tagflow', version: '0.1.0' }, consent: { categoryPreferences: { necessary: true, analytics: false, marketing: false } } };
    const out = processBatch(batch([track({ anonymousId: 'page-1', context: sdk }), track({ anonymousId: 'page-2' })], sdk), late, defaultLimits);
    expect(out.stripped).toBe(2);
    expect(out.refusals).toEqual([]);
    // Its userId still counts (a site that sets the consent context itself while the visitor is logged in).
    expect(processBatch(batch([track({ userId: 'user-7', context: sdk })]), late, defaultLimits).refusals).toEqual([{ id_hash: hex('user-7'), id_kind: 'user', refused_on: '2026-11-23' }]);
  });

  it('hashes an id as the identity graph names it: untrimmed, a safe integer by its digits, a lone surrogate as U+FFFD', () => {
    const out = processBatch(batch([refusal({ userId: 4242 }), refusal({ userId: ' u ' }), refusal({ userId: 'x\ud800' }), refusal({ userId: 2 ** 60, anonymousId: 'anon-big' }), refusal({ userId: { id: 1 }, anonymousId: false })]), late, defaultLimits);
    expect(out.refusals.map((r) => [r.id_kind, r.id_hash])).toEqual([
      ['user', hex('4242')],
      ['user', hex(' u ')],
      ['user', hex('x\ufffd')],
      ['anon', hex('anon-big')],
    ]);
  });

  it('records under the drop policy and for an invalid refusing event, never for one that keeps its ids', () => {
    const drop = { ...late, consentPolicy: 'drop' as const };
    const out = processBatch(batch([refusal(), { type: 'nope', userId: 'user-8', context: rejectAll }, 'not an event', track({ userId: 'user-9', context: { consent: { categoryPreferences: { analytics: true, marketing: false } } } })]), drop, defaultLimits);
    expect(out).toMatchObject({ dropped: 2, rows: [{ user_id: 'user-9' }] });
    expect(out.refusals.map((r) => r.id_hash)).toEqual([hex('user-7'), hex('user-8')]);
    const quarantined = processBatch(batch([{ type: 'track', userId: 'user-10', context: rejectAll }]), late, defaultLimits);
    expect(quarantined.quarantine).toHaveLength(1);
    expect(quarantined.refusals.map((r) => r.id_hash)).toEqual([hex('user-10')]);
  });

  it('records only a denial of a marketing key the exports read, as the consent is stored (batch merge, RudderStack shape)', () => {
    const consentOf = (consent: unknown) => track({ userId: 'user-7', context: { consent } });
    const none = processBatch(
      batch([consentOf({ categoryPreferences: { analytics: false } }), consentOf({ categoryPreferences: { analytics: false, marketing: true } }), consentOf({ analytics_storage: 'denied', ad_storage: 'denied' })]),
      late,
      defaultLimits,
    );
    expect(none.stripped).toBe(3);
    expect(none.refusals).toEqual([]);
    for (const consent of [{ analytics_storage: 'denied', ad_user_data: 'DENIED' }, { categoryPreferences: { Analytics: 0, Advertising: ' false ' } }, { analytics: false, nested: [{ ad_personalization: 'denied' }] }]) {
      expect(processBatch(batch([consentOf(consent)]), late, defaultLimits).refusals, JSON.stringify(consent)).toHaveLength(1);
    }
    // A batch denial of both, under an event's own consent that grants marketing: stored as granting, no record.
    const granted = processBatch(batch([track({ userId: 'user-7', context: { consent: { categoryPreferences: { marketing: true } } } })], rejectAll), late, defaultLimits);
    expect(granted.refusals).toEqual([]);
    expect(processBatch(batch([track({ userId: 'user-7' })], rejectAll), late, defaultLimits).refusals).toHaveLength(1);
    // RudderStack: the source's marketing id denied, or left out of a non-empty allow-list.
    const rudder = (consentManagement: unknown) => track({ userId: 'user-7', context: { consentManagement } });
    const source = { ...late, analyticsConsentIds: ['C0002'], marketingConsentIds: ['C0004'] };
    const out = processBatch(batch([rudder({ allowedConsentIds: ['C0001'], deniedConsentIds: ['C0002', 'C0004'] }), rudder({ allowedConsentIds: ['C0001'] }), rudder({ allowedConsentIds: ['C0001', 'C0004'], deniedConsentIds: ['C0002'] })]), source, defaultLimits);
    expect(out.stripped).toBe(3);
    expect(out.refusals).toHaveLength(1);
    const separate = [rudder({ allowedConsentIds: ['C0001'] }), rudder({ allowedConsentIds: ['C0001', 'C0004'], deniedConsentIds: ['C0002'] })].map((event) => processBatch(batch([event]), source, defaultLimits).refusals.length);
    expect(separate).toEqual([1, 0]);
  });
});

describe('processBatch: context_identity and consent', () => {
  const mobile = (consent: Record<string, unknown>) => ({ type: 'track', event: 'E', userId: 'u1', anonymousId: 'a1', context: { traits: { email: 'ann@example.com' }, consent } });

  it('is empty for an event stripped for its own or its batch denial, and the event is gone under drop', () => {
    const denies = { categoryPreferences: { analytics: false } };
    const own = processBatch(batch([mobile(denies)]), request, defaultLimits);
    expect(own).toMatchObject({ stripped: 1 });
    expect(own.rows.map((row) => [row.user_id, row.context_identity])).toEqual([['', '']]);
    const ofBatch = processBatch(batch([track({ userId: 'u1' })], { traits: { email: 'ann@example.com' }, consent: denies }), request, defaultLimits);
    expect(ofBatch.rows.map((row) => [row.user_id, row.context_identity])).toEqual([['', '']]);
    expect(processBatch(batch([mobile(denies)]), { ...request, consentPolicy: 'drop' }, defaultLimits)).toMatchObject({ rows: [], dropped: 1 });
  });

  it("is kept when only marketing is denied (the exports honour that refusal) and from a batch context's traits", () => {
    const marketingOnly = processBatch(batch([mobile({ categoryPreferences: { analytics: true, marketing: false } })]), request, defaultLimits);
    expect(marketingOnly.rows.map((row) => row.context_identity)).toEqual(['{"email":"ann@example.com"}']);
    const fromBatch = processBatch(batch([track({ userId: 'u1' })], { traits: { phone: '+79991234567' } }), request, defaultLimits);
    expect(fromBatch.rows.map((row) => row.context_identity)).toEqual(['{"phone":"+79991234567"}']);
  });
});
