import { describe, expect, it } from 'vitest';
import { readBatch, readSingle } from './batch';
import { validateEvent } from './event';
import { anonymizeIp } from './ip';
import { correctedTime, parseClientTime, toDateTimeText, toEventRow } from './normalize';
import { writeKeyFromAuthorization, writeKeyFromBody } from './write-key';
import { analyticsDenials, analyticsIds, applyConsentDecision, consentManagementPreferences, deniedConsent, withoutClickIds } from './consent';
import { clientNetwork, createRateLimiter, fullBucket, takeToken } from './rate-limit';
import { parseUserAgent } from './user-agent';
import { sha256 } from '../warehouse/identity/identifiers';
import { linkMessageId } from '../warehouse/identity/job';

describe('readBatch', () => {
  it.each([
    [undefined, 'empty_body'],
    ['', 'empty_body'],
    [[1, 2], 'invalid_shape'],
    [{}, 'invalid_shape'],
    [{ batch: 'x' }, 'invalid_shape'],
    [{ batch: [] }, 'invalid_shape'],
    [{ batch: new Array(2501).fill({}) }, 'too_many_events'],
  ])('refuses %j as %s', (body, error) => {
    const read = readBatch(body);
    expect(read.ok).toBe(false);
    if (!read.ok) expect(read.error).toBe(error);
  });

  it('ignores a sentAt that is not an ISO-8601 date-time (Date.parse would read "1" as 2001)', () => {
    for (const sentAt of ['1', '2026', 'Mon Nov 23 2026', '2026-13-01T00:00:00Z', '2026-01-01']) {
      expect(readBatch({ batch: [{ type: 'page' }], sentAt })).toMatchObject({ ok: true, batch: { sentAt: undefined } });
    }
    expect(readBatch({ batch: [{ type: 'page' }], sentAt: '2026-01-01T00:00:00.000+01:00' })).toMatchObject({ ok: true, batch: { sentAt: '2026-01-01T00:00:00.000+01:00' } });
    expect(readSingle({ type: 'page', sentAt: '1' }, 'page')).toMatchObject({ ok: true, batch: { sentAt: undefined } });
    // A space for the T, as event timestamps may have (RFC 3339; ClickHouse prints times that way).
    expect(readBatch({ batch: [{ type: 'page' }], sentAt: '2026-01-01 10:00:00Z' })).toMatchObject({ ok: true, batch: { sentAt: '2026-01-01 10:00:00Z' } });
  });

  it('reads events, sentAt, writeKey and top-level context', () => {
    const read = readBatch({ batch: [{ type: 'page' }], sentAt: '2026-01-01T00:00:00Z', writeKey: 'k', context: { ip: '1' } });
    expect(read).toEqual({ ok: true, batch: { events: [{ type: 'page' }], sentAt: '2026-01-01T00:00:00Z', writeKey: 'k', context: { ip: '1' }, contextBytes: 10 } });
  });
});

describe('validateEvent', () => {
  it.each([
    ['x', 'event must be a JSON object'],
    [{ type: 'nope', anonymousId: 'a' }, 'type must be one of'],
    [{ type: 'track', event: 'E' }, 'anonymousId or userId is required'],
    [{ type: 'track', anonymousId: 'a' }, 'track needs an event name'],
    [{ type: 'page', anonymousId: 'a', properties: [1] }, 'properties must be an object'],
    [{ type: 'page', anonymousId: { x: 1 } }, 'anonymousId must be a string'],
    [{ type: 'page', anonymousId: 'a'.repeat(101) }, 'anonymousId is longer than 100'],
    [{ type: 'page', anonymousId: 'a', timestamp: 'yesterday' }, 'timestamp is not an ISO-8601 date'],
    [{ type: 'page', anonymousId: 'a', timestamp: '2026-02-30T10:00:00Z' }, 'timestamp is not an ISO-8601 date'],
    [{ type: 'page', anonymousId: 'a', timestamp: '2026-11-23T10:00:00 PST' }, 'timestamp is not an ISO-8601 date'],
    [{ type: 'page', anonymousId: 'a', timestamp: '2026-11-23T24:00:00Z' }, 'timestamp is not an ISO-8601 date'],
    [{ type: 'alias', anonymousId: 'a' }, 'alias needs a userId'],
  ])('refuses %j', (raw, reason) => {
    const result = validateEvent(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });

  it('accepts a Segment track event and keeps its fields', () => {
    const result = validateEvent({ type: 'track', event: 'Order Completed', userId: 42, messageId: 'm1', properties: { total: 10 } });
    expect(result.ok && result.event).toMatchObject({ type: 'track', event: 'Order Completed', userId: '42', messageId: 'm1', properties: { total: 10 } });
  });

  it.each(['messageId', 'anonymousId', 'userId', 'groupId', 'previousId'])('refuses a numeric %s that JSON cannot carry exactly', (field) => {
    // JSON.parse reads both 12345678901234567891 and 12345678901234567892 as 12345678901234567000.
    const [first, second] = JSON.parse(`[{"type":"group","groupId":"g","anonymousId":"a","${field}":12345678901234567891},{"type":"group","groupId":"g","anonymousId":"a","${field}":12345678901234567892}]`) as unknown[];
    for (const raw of [first, second]) {
      const result = validateEvent(raw);
      expect(result).toMatchObject({ ok: false, code: 'imprecise_id' });
      if (!result.ok) expect(result.reason).toBe(`${field} is a number that is not a safe integer (a whole number of at most 9007199254740991), so it cannot be read exactly; send it as a string`);
    }
    expect(validateEvent({ type: 'page', anonymousId: 'a', [field]: 1.5 })).toMatchObject({ ok: false, code: 'imprecise_id' });
  });

  it.each(['messageId', 'anonymousId', 'userId', 'groupId', 'previousId'])('refuses a %s of spaces, which would make one person (or event) of everyone sending it', (field) => {
    for (const blank of [' ', '  \t', '\n']) {
      expect(validateEvent({ type: 'alias', userId: 'u', previousId: 'p', anonymousId: 'a', [field]: blank })).toEqual({
        ok: false,
        code: 'blank_id',
        reason: `${field} is blank (only spaces); leave it out or send a real id`,
      });
    }
    expect(validateEvent({ type: 'page', anonymousId: 'a', [field]: ' x ' }).ok).toBe(true);
  });

  it("refuses a messageId the identity graph reserves for its context.traits links, which would join someone else's person", () => {
    const link = linkMessageId(['user:ann', `email:${sha256('ann@example.com')}`]);
    expect(validateEvent({ type: 'identify', userId: 'mallory', anonymousId: 'a', messageId: link })).toEqual({
      ok: false,
      code: 'reserved_message_id',
      reason: 'messageId may not start with "context:", which the identity graph reserves for its own messages',
    });
    for (const messageId of ['Context:1', ' context:1', 'ctx:1', 'my-context:1']) expect(validateEvent({ type: 'page', anonymousId: 'a', messageId }).ok).toBe(true);
  });

  it('keeps numeric ids that are safe integers, as Segment does', () => {
    const result = validateEvent({ type: 'identify', userId: Number.MAX_SAFE_INTEGER, anonymousId: -7, messageId: 0 });
    expect(result.ok && result.event).toMatchObject({ userId: '9007199254740991', anonymousId: '-7', messageId: '0' });
  });
});

describe('anonymizeIp', () => {
  it.each([
    ['203.0.113.77', '203.0.113.0'],
    ['::ffff:198.51.100.9', '198.51.100.0'],
    ['2001:db8:85a3:1234:5678:8a2e:370:7334', '2001:db8:85a3::'],
    ['2001:db8::1', '2001:db8:0::'],
    ['::1', '0:0:0::'],
    ['not an ip', ''],
  ])('%s → %s', (ip, expected) => {
    expect(anonymizeIp(ip)).toBe(expected);
  });
});

describe('client times', () => {
  it('reads a date-time without a zone as UTC, wherever the collector runs', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo'; // Node applies a changed TZ at once
    try {
      expect(new Date('2026-01-01T12:00:00').getTimezoneOffset()).toBe(-540); // the machine's zone is in effect
      expect(parseClientTime('2026-01-01T12:00:00')).toBe(Date.UTC(2026, 0, 1, 12));
      expect(parseClientTime('2026-01-01T12:00')).toBe(Date.UTC(2026, 0, 1, 12));
      expect(parseClientTime('2026-01-01T12:00:00.250')).toBe(Date.UTC(2026, 0, 1, 12, 0, 0, 250));
      // Times with a zone, and dates alone (UTC already), are read as given.
      expect(parseClientTime('2026-01-01T12:00:00+03:00')).toBe(Date.UTC(2026, 0, 1, 9));
      expect(parseClientTime('2026-01-01')).toBe(Date.UTC(2026, 0, 1));
      expect(parseClientTime('yesterday')).toBeNaN();
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });
});

describe('ISO-8601 times (event timestamps, sentAt, the funnel API)', () => {
  it('reads a space for the T (RFC 3339 allows it) and zone-less times as UTC, even under America/New_York', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(new Date('2026-11-23T10:00:00').getTimezoneOffset()).toBe(300); // the machine's zone is in effect
      expect(parseClientTime('2026-11-23 10:00:00')).toBe(Date.UTC(2026, 10, 23, 10));
      expect(parseClientTime('2026-11-23 10:00')).toBe(Date.UTC(2026, 10, 23, 10));
      expect(parseClientTime('2026-11-23t10:00:00z')).toBe(Date.UTC(2026, 10, 23, 10));
      expect(parseClientTime('2026-11-23T10:00:00.123456Z')).toBe(Date.UTC(2026, 10, 23, 10, 0, 0, 123));
      expect(parseClientTime('2026-11-23T10:00:00.5')).toBe(Date.UTC(2026, 10, 23, 10, 0, 0, 500));
      expect(parseClientTime('2026-11-23T10:00:00+05:30')).toBe(Date.UTC(2026, 10, 23, 4, 30));
      expect(parseClientTime('2026-11-23T10:00:00+0530')).toBe(Date.UTC(2026, 10, 23, 4, 30));
      expect(parseClientTime('2026-11-23T10:00:00-05')).toBe(Date.UTC(2026, 10, 23, 15));
      expect(parseClientTime('2028-02-29')).toBe(Date.UTC(2028, 1, 29));
      // Expanded years (what toISOString writes outside 0000–9999) parse, so range checks can name the range.
      expect(parseClientTime('+275760-09-13T00:00:00Z')).toBe(8.64e15);
      // Date.UTC reads years 0–99 as 1900–1999; a year is taken as written.
      expect(new Date(parseClientTime('0050-01-01T00:00:00Z')).getUTCFullYear()).toBe(50);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it.each([
    '1', '2026', '2026-11', '20261123', '20261123T100000Z', 'November 23, 2026 10:00', 'Mon Nov 23 2026', 'yesterday', '',
    ' 2026-11-23', '2026-11-23 ', '2026-11-23  10:00', '2026-11-23T10', '2026-11-23Z', '2026-11-23T10:00:00ZZ', '2026-11-23T10:00:00.Z',
    '2026-02-29', '2026-02-30T10:00:00Z', '2026-13-01T00:00:00Z', '2026-00-10', '2026-11-00',
    '2026-11-23T24:00:00Z', '2026-11-23T10:60Z', '2026-11-23T10:00:60Z', '2026-11-23T10:00:00+24:00', '2026-11-23T10:00:00+05:60',
    '2026-11-23T10:00:00 PST', '2026-11-23T10:00:00GMT', '+275760-09-13T00:00:00.001Z', '-000000-01-01T00:00:00Z',
  ])('refuses %j', (text) => {
    expect(parseClientTime(text)).toBeNaN();
  });
});

describe('clock skew', () => {
  it('moves the client timestamp by the difference between sentAt and receipt', () => {
    // The client clock is 10 minutes fast: sentAt says 12:10 while the server receives at 12:00.
    const original = Date.parse('2026-01-01T12:05:00Z');
    const sentAt = Date.parse('2026-01-01T12:10:00Z');
    const received = Date.parse('2026-01-01T12:00:00Z');
    expect(new Date(correctedTime(original, sentAt, received)).toISOString()).toBe('2026-01-01T11:55:00.000Z');
    expect(correctedTime(original, undefined, received)).toBe(original);
  });

  it('fills every column of a row with the right type', () => {
    const result = validateEvent({ type: 'page', anonymousId: 'a', timestamp: '2026-01-01T12:00:00.250Z', context: { page: { path: '/p' }, locale: 'en' } });
    if (!result.ok) throw new Error(result.reason);
    const row = toEventRow(result.event, { source: 's', receivedAt: Date.parse('2026-01-01T12:00:01Z'), sentAt: undefined, ip: '1.2.3.0', userAgent: 'UA' });
    expect(row).toMatchObject({ timestamp: '2026-01-01 12:00:00', timestamp_ms: Date.parse('2026-01-01T12:00:00.250Z'), page_path: '/p', locale: 'en', user_agent: 'UA', source: 's' });
    expect(Object.values(row).every((v) => v !== null && v !== undefined)).toBe(true);
  });
});

describe('writeKeyFromAuthorization', () => {
  it('reads the Basic-auth user name as Segment libraries send it', () => {
    expect(writeKeyFromAuthorization(`Basic ${Buffer.from('wk-1:').toString('base64')}`)).toBe('wk-1');
    expect(writeKeyFromAuthorization('Bearer x')).toBeUndefined();
    expect(writeKeyFromAuthorization(undefined)).toBeUndefined();
  });
});

describe('bounded skew correction', () => {
  it('moves a timestamp by at most the bound', () => {
    const received = Date.parse('2026-01-01T12:00:00Z');
    const day = 86_400_000;
    expect(correctedTime(received - 30 * day, received - 30 * day, received, 7 * day)).toBe(received - 23 * day);
    expect(correctedTime(received, received + 30 * day, received, 7 * day)).toBe(received - 7 * day);
    expect(correctedTime(received - 5000, received - 1000, received, 7 * day)).toBe(received - 4000);
  });
});

describe('rate limit', () => {
  it('allows a burst, then one request per token, and says how long to wait', () => {
    const limit = { requestsPerSecond: 2, burst: 3 };
    const bucket = fullBucket(limit, 0);
    expect([1, 2, 3].map(() => takeToken(bucket, limit, 0).ok)).toEqual([true, true, true]);
    expect(takeToken(bucket, limit, 0)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(takeToken(bucket, limit, 500).ok).toBe(true);
    expect(takeToken(bucket, limit, 500).ok).toBe(false);
  });

  it('keys a client by its IPv4 address, or by the /64 of its IPv6 one', () => {
    expect(clientNetwork('203.0.113.7')).toBe('203.0.113.7');
    expect(clientNetwork('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientNetwork('2001:db8:0:1::1')).toBe(clientNetwork('2001:db8:0:1:ffff:ffff:ffff:ffff'));
    expect(clientNetwork('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(clientNetwork('2001:db8:0:2::1')).not.toBe(clientNetwork('2001:db8:0:1::1'));
    expect(clientNetwork('::1')).toBe('0:0:0:0::/64');
    expect(clientNetwork('')).toBe('');
  });

  const limit = { requestsPerSecond: 1, burst: 2 };
  const drain = (limiter: ReturnType<typeof createRateLimiter>, ip: string, now: number) => {
    limiter.take('web', ip, limit, now);
    limiter.take('web', ip, limit, now);
  };

  it('keeps a bucket per source and client', () => {
    const limiter = createRateLimiter(100);
    drain(limiter, '203.0.113.1', 0);
    expect(limiter.take('web', '203.0.113.1', limit, 0).ok).toBe(false);
    expect(limiter.take('web', '203.0.113.2', limit, 0).ok).toBe(true);
    expect(limiter.take('app', '203.0.113.1', limit, 0).ok).toBe(true);
  });

  it('never keeps more buckets than its cap, forgetting full ones first', () => {
    const limiter = createRateLimiter(10);
    // Nine clients drained at 0 and one at 5 s; by 5 s the nine have refilled (2 tokens at 1 a second).
    for (let i = 0; i < 9; i++) drain(limiter, `198.51.100.${i}`, 0);
    drain(limiter, '203.0.113.1', 5000);
    expect(limiter.size).toBe(10);
    limiter.take('web', '203.0.113.2', limit, 5000);
    expect(limiter.size).toBeLessThanOrEqual(10);
    // The one still drained was kept: forgetting it would have handed it a full bucket.
    expect(limiter.take('web', '203.0.113.1', limit, 5000).ok).toBe(false);
  });

  it('at its cap with no full bucket, forgets the least recently used ones', () => {
    const limiter = createRateLimiter(10);
    for (let i = 0; i < 10; i++) drain(limiter, `198.51.100.${i}`, 0);
    // .0 is used again, so .1 is now the least recently used.
    expect(limiter.take('web', '198.51.100.0', limit, 0).ok).toBe(false);
    for (let i = 0; i < 1000; i++) {
      limiter.take('web', `192.0.2.${i % 250}-${i}`, limit, 0);
      expect(limiter.size).toBeLessThanOrEqual(10);
    }
    const fresh = createRateLimiter(10);
    for (let i = 0; i < 10; i++) drain(fresh, `198.51.100.${i}`, 0);
    fresh.take('web', '198.51.100.0', limit, 0);
    fresh.take('web', '192.0.2.1', limit, 0);
    expect(fresh.take('web', '198.51.100.0', limit, 0).ok).toBe(false);
    expect(fresh.take('web', '198.51.100.1', limit, 0).ok).toBe(true);
  });
});

describe('writeKeyFromBody', () => {
  it('takes a string, and no key from absent or null', () => {
    expect(writeKeyFromBody('k-123456')).toEqual({ ok: true, writeKey: 'k-123456' });
    expect(writeKeyFromBody(undefined)).toEqual({ ok: true, writeKey: undefined });
    expect(writeKeyFromBody(null)).toEqual({ ok: true, writeKey: undefined });
  });

  it.each([
    [123, 'a number'],
    [false, 'a boolean'],
    [[], 'an array'],
    [{}, 'an object'],
  ])('refuses %j, naming it as %s', (value, kind) => {
    const read = writeKeyFromBody(value);
    expect(read).toMatchObject({ ok: false, error: 'invalid_write_key' });
    expect(!read.ok && read.message).toContain(kind);
  });
});

describe('consent policy', () => {
  const event = () => {
    const parsed = validateEvent({ type: 'identify', userId: 'u', anonymousId: 'a', traits: { email: 'e' }, context: { ip: '1.1.1.1', page: { path: '/' }, device: { id: 'd', type: 'ios' } } });
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.event;
  };

  it.each([
    [{ consent: { categoryPreferences: { analytics: false } } }, true],
    [{ consent: { analytics: 'denied' } }, true],
    [{ consent: { analytics_storage: 'denied' } }, true],
    [{ consent: { categoryPreferences: { analytics: true, marketing: false } } }, false],
    [{}, false],
    // Denials as clients write them: any case, as text, as a number (CMPs and form values send all of these).
    [{ consent: { analytics: 'DENIED' } }, true],
    [{ consent: { analytics_storage: 'DENIED' } }, true],
    [{ consent: { analytics_storage: ' Denied ' } }, true],
    [{ consent: { analytics: 'false' } }, true],
    [{ consent: { analytics: 'FALSE' } }, true],
    [{ consent: { analytics: 0 } }, true],
    [{ consent: { analytics: '0' } }, true],
    [{ consent: { categoryPreferences: { analytics: 'false' } } }, true],
    [{ consent: { categoryPreferences: { analytics: 0 } } }, true],
    [{ consent: { categoryPreferences: { analytics: 'Denied' } } }, true],
    // One denial among grants is a denial.
    [{ consent: { categoryPreferences: { analytics: true }, analytics_storage: 'denied' } }, true],
    // Absent, empty or granting values are no denial.
    [{ consent: {} }, false],
    [{ consent: { analytics: null, analytics_storage: '', categoryPreferences: { analytics: undefined } } }, false],
    [{ consent: { analytics: 'granted', analytics_storage: 'GRANTED' } }, false],
    [{ consent: { analytics: 1, categoryPreferences: { analytics: 'true' } } }, false],
    [{ consent: { categoryPreferences: { marketing: false, advertising: 'denied' } } }, false],
    [{ consent: { ad_storage: 'denied' } }, false],
  ])('reads %j as denying analytics: %s', (context, denied) => {
    expect(analyticsDenials(context).length > 0).toBe(denied);
  });

  // RudderStack's SDKs (JS v3, Android, iOS) and HTTP API send `context.consentManagement`; the ids are the
  // consent platform's, so `analytics` counts by default and a source names its platform's own.
  const oneTrust = (allowed: unknown, denied: unknown) => ({ consentManagement: { provider: 'oneTrust', allowedConsentIds: allowed, deniedConsentIds: denied, resolutionStrategy: 'and' } });
  const custom = (allowed: unknown, denied?: unknown) => ({ consentManagement: { provider: 'custom', allowedConsentIds: allowed, ...(denied === undefined ? {} : { deniedConsentIds: denied }) } });
  it.each([
    [{ consentManagement: { provider: 'ketch', allowedConsentIds: ['essential'], deniedConsentIds: ['analytics', 'marketing'], resolutionStrategy: 'or' } }, true],
    [custom([], [' Analytics ']), true],
    [{ consent: { categoryPreferences: { analytics: true } }, ...custom(['analytics', 'x'], ['ANALYTICS']) }, true], // one denial among grants
    [custom(['analytics'], ['marketing']), false],
    // Without the source's mapping an id in neither list decides nothing: OneTrust's C0002 could be anything.
    [oneTrust(['C0001'], ['C0002', 'C0004']), false],
    [custom(['marketing']), false],
    [custom([], []), false], // before the platform answered (RudderStack's pre-consent)
    [{ consentManagement: {} }, false],
    [{ consentManagement: { deniedConsentIds: 'analytics' } }, false], // not a list
    [{ consentManagement: 'analytics' }, false],
  ])('reads RudderStack consent management %j as denying analytics: %s', (context, denied) => {
    expect(analyticsDenials(context).length > 0).toBe(denied);
  });

  it.each([
    [oneTrust(['C0001', 'C0003'], ['C0002', 'C0004']), true],
    [oneTrust(['C0001', 'C0002', 'C0003'], ['C0004']), false],
    // A custom platform may send the allow-list alone: with the source's mapping, RudderStack's rule for a
    // destination with consent settings holds, a non-empty allow-list without the id refuses it.
    [custom(['C0001']), true],
    [custom(['C0001', 'c0002 ']), false],
    [custom(['C0001'], ['C0004']), true],
    [custom([], []), false],
    [custom([], ['C0004']), false],
    // JS SDK v3's first OneTrust versions sent the allow-list as an object of id to group name.
    [oneTrust({ C0001: 'Strictly Necessary' }, []), true],
    [oneTrust({ C0001: 'Strictly Necessary', C0002: 'Performance Cookies' }, []), false],
    // `analytics` still counts (a Ketch app on the same source), in either list.
    [custom(['analytics']), false],
    [custom(['C0002'], ['analytics']), true],
    // Segment's OneTrust wrapper keys categoryPreferences by group id.
    [{ consent: { categoryPreferences: { C0001: true, C0002: false } } }, true],
    [{ consent: { categoryPreferences: { C0001: true, C0002: true } } }, false],
    [{}, false],
  ])('with analyticsConsentIds ["C0002"] reads %j as denying analytics: %s', (context, denied) => {
    expect(analyticsDenials(context, analyticsIds(['C0002'])).length > 0).toBe(denied);
  });

  it('names each key that denies, as a path in the context', () => {
    const ids = analyticsIds(['C0002']);
    expect(analyticsDenials({ consent: { categoryPreferences: { C0002: false, analytics: 'denied' }, analytics_storage: 'DENIED' } }, ids)).toEqual([
      'consent.categoryPreferences.C0002',
      'consent.categoryPreferences.analytics',
      'consent.analytics_storage',
    ]);
    expect(analyticsDenials(oneTrust([], ['C0002', ' c0002', 'analytics']), ids)).toEqual(['consentManagement.deniedConsentIds: C0002, analytics']);
    expect(analyticsDenials(custom(['C0001']), ids)).toEqual(['consentManagement.allowedConsentIds: none of analytics, C0002']);
  });

  it('stores, for a denied event, its consent with every analytics key denied and what denied it', () => {
    const ids = analyticsIds(['C0002']);
    const sent = { categoryPreferences: { analytics: true, C0002: true, marketing: true }, analytics_storage: 'granted', ad_storage: 'granted' };
    expect(deniedConsent(sent, ['batch context.consent.analytics'], ids)).toEqual({
      categoryPreferences: { analytics: false, C0002: false, marketing: true },
      analytics_storage: 'denied',
      ad_storage: 'granted',
      analyticsDeniedBy: ['batch context.consent.analytics'],
    });
    // A denial as sent stays as sent; `categoryPreferences.analytics` is added: it is what analysts read.
    expect(deniedConsent({ analytics_storage: 'DENIED' }, ['context.consent.analytics_storage'])).toEqual({
      analytics_storage: 'DENIED',
      categoryPreferences: { analytics: false },
      analyticsDeniedBy: ['context.consent.analytics_storage'],
    });
    expect(deniedConsent(undefined, ['context.consentManagement.deniedConsentIds: analytics'])).toEqual({
      categoryPreferences: { analytics: false },
      analyticsDeniedBy: ['context.consentManagement.deniedConsentIds: analytics'],
    });
  });

  it("stores a RudderStack client's consent in the shape of Segment's, with what analytics is", () => {
    const ids = analyticsIds(['C0002']);
    // OneTrust through RudderStack's JS SDK v3: every group in one list or the other.
    expect(consentManagementPreferences(oneTrust(['C0001', 'C0002'], ['C0003', 'C0004']).consentManagement, ids)).toEqual({
      categoryPreferences: { C0001: true, C0002: true, C0003: false, C0004: false, analytics: true },
      provider: 'oneTrust',
    });
    // Without the source's analytics ids, what OneTrust's ids say of analytics is unknown: not claimed either way.
    expect(consentManagementPreferences(oneTrust(['C0001', 'C0002'], ['C0004']).consentManagement)).toEqual({
      categoryPreferences: { C0001: true, C0002: true, C0004: false },
      provider: 'oneTrust',
    });
    // A platform whose ids are purposes; a denial wins over the same id granted; ids trimmed; the old object form.
    expect(consentManagementPreferences({ allowedConsentIds: [' analytics ', 'ads', 'ads'], deniedConsentIds: ['ads'] })).toEqual({ categoryPreferences: { analytics: true, ads: false } });
    expect(consentManagementPreferences({ allowedConsentIds: { C0002: 'Performance' } }, ids)).toEqual({ categoryPreferences: { C0002: true, analytics: true } });
    // Denials (the event is stripped then, and stores deniedConsent; here only for completeness).
    expect(consentManagementPreferences(custom(['C0001']).consentManagement, ids)).toEqual({ categoryPreferences: { C0001: true, analytics: false }, provider: 'custom' });
    // An id named like an object's prototype is an id like any other.
    expect(JSON.stringify(consentManagementPreferences({ allowedConsentIds: ['__proto__'] }))).toBe('{"categoryPreferences":{"__proto__":true}}');
    // No decision yet (empty lists, pre-consent tracking) and no object: nothing, as for an event without consent.
    expect(consentManagementPreferences(oneTrust([], []).consentManagement, ids)).toEqual({});
    expect(consentManagementPreferences('analytics', ids)).toEqual({});
  });

  it('strips identifiers or drops, as the policy says', () => {
    const stripped = applyConsentDecision(event(), true, 'strip');
    expect(stripped.keep && stripped.event).toMatchObject({ userId: '', anonymousId: '', traits: {}, context: { page: { path: '/' }, device: { type: 'ios' } } });
    expect(stripped.keep && stripped.event.context).not.toHaveProperty('ip');
    expect(applyConsentDecision(event(), true, 'drop')).toEqual({ keep: false });
    expect(applyConsentDecision(event(), false, 'drop')).toMatchObject({ keep: true, stripped: false });
  });

  it('strips the group, the location, ad click ids (in the campaign and in every URL) and the referrer id too', () => {
    const landing = 'https://shop.example.com/p?utm_source=ad&gclid=g-1&fbclid=f-1&MSCLKID=m-1&q=shoes#top';
    const parsed = validateEvent({
      type: 'group',
      userId: 'u',
      groupId: 'account-7',
      traits: { name: 'Acme' },
      properties: { url: landing, search: '?gclid=g-1', referrer: 'https://shop.example.com/?yclid=y-1' },
      context: {
        groupId: 'account-7',
        location: { latitude: 52.52, longitude: 13.4, city: 'Berlin', country: 'DE' },
        campaign: { source: 'ad', medium: 'cpc', name: 'spring', gclid: 'g-1', fbclid: 'f-1', yclid: 'y-1', wbraid: 'w-1', ttclid: 't-1' },
        page: { path: '/p', url: landing, search: '?gclid=g-1&utm_source=ad', referrer: 'https://shop.example.com/?fbclid=f-1', title: 'P' },
        referrer: { type: 'dataxu', id: 'ABCD582CDEFFFF01919' },
        locale: 'de-DE',
      },
    });
    if (!parsed.ok) throw new Error(parsed.reason);
    const stripped = applyConsentDecision(parsed.event, true, 'strip');
    if (!stripped.keep) throw new Error('strip keeps the event');
    expect(stripped.event).toMatchObject({ userId: '', groupId: '', traits: {} });
    expect(stripped.event.properties).toEqual({ url: 'https://shop.example.com/p?utm_source=ad&q=shoes#top', search: '', referrer: 'https://shop.example.com/' });
    expect(stripped.event.context).toEqual({
      campaign: { source: 'ad', medium: 'cpc', name: 'spring' },
      page: { path: '/p', url: 'https://shop.example.com/p?utm_source=ad&q=shoes#top', search: '?utm_source=ad', referrer: 'https://shop.example.com/', title: 'P' },
      referrer: { type: 'dataxu' },
      locale: 'de-DE',
    });
    // An event that was never denied keeps all of it.
    expect(applyConsentDecision(parsed.event, false, 'strip')).toMatchObject({ stripped: false, event: { groupId: 'account-7', context: { location: { latitude: 52.52 } } } });
  });

  it('removes click ids from URLs of every shape and leaves other parameters as they were', () => {
    expect(withoutClickIds('https://a.example/?gclid=1')).toBe('https://a.example/');
    expect(withoutClickIds('https://a.example/?a=1&gclid=1&b=%20x')).toBe('https://a.example/?a=1&b=%20x');
    expect(withoutClickIds('https://a.example/?gclid=1&b=2#h')).toBe('https://a.example/?b=2#h');
    expect(withoutClickIds('https://a.example/?a=1&gclid=1#h')).toBe('https://a.example/?a=1#h');
    expect(withoutClickIds('/p#/route?fbclid=1&x=2')).toBe('/p#/route?x=2');
    expect(withoutClickIds('/p#gclid=1')).toBe('/p');
    expect(withoutClickIds('?%67clid=1&gclid_like=2&xgclid=3')).toBe('?gclid_like=2&xgclid=3');
    expect(withoutClickIds('?gclid&a=1')).toBe('?a=1');
    expect(withoutClickIds('https://a.example/p?q=%E0%A4%A')).toBe('https://a.example/p?q=%E0%A4%A');
  });
});

describe('user agent', () => {
  it('parses browser, OS and device and flags crawlers', () => {
    expect(parseUserAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1')).toMatchObject({
      browser: 'Mobile Safari',
      os: 'iOS',
      deviceType: 'mobile',
      deviceVendor: 'Apple',
      bot: false,
    });
    expect(parseUserAgent('Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)').bot).toBe(true);
    expect(parseUserAgent('')).toMatchObject({ browser: '', deviceType: '', bot: false });
  });

  const googlebot = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
  const row = (context: Record<string, unknown>, requestAgent: string) => {
    const result = validateEvent({ type: 'track', event: 'E', anonymousId: 'a', context });
    if (!result.ok) throw new Error(result.reason);
    return toEventRow(result.event, { source: 's', receivedAt: Date.UTC(2026, 0, 1), sentAt: undefined, ip: '', userAgent: requestAgent });
  };

  it("flags bots by the visitor's user agent, never by a server library's own", () => {
    // Server libraries: the request's User-Agent names the library (isbot flags those); it is stored, not judged.
    expect(row({ library: { name: 'analytics-python', version: '2.3.2' } }, 'analytics-python/2.3.2')).toMatchObject({ user_agent: 'analytics-python/2.3.2', is_bot: 0 });
    expect(row({ library: { name: '@segment/analytics-node' } }, 'analytics-node-next/latest').is_bot).toBe(0);
    expect(row({ library: { name: 'analytics-kotlin' } }, 'okhttp/4.9.0').is_bot).toBe(0);
    // The visitor's user agent, forwarded by a server library in context.userAgent, is judged.
    expect(row({ library: { name: 'analytics-python' }, userAgent: googlebot }, 'analytics-python/2.3.2').is_bot).toBe(1);
    // Browser libraries, and events naming no library (a hand-made tag): the request came from the visitor.
    expect(row({}, googlebot).is_bot).toBe(1);
    expect(row({ library: { name: 'analytics.js' } }, googlebot).is_bot).toBe(1);
    expect(row({ library: { name: 'tagflow' } }, googlebot).is_bot).toBe(1);
  });

  it('judges an event naming no library only by a browser’s user agent: a script or server posting is no crawler', () => {
    // The person-level views leave bots out: a shop backend's plain HTTP call (an order, a refund) must not be one.
    for (const agent of ['node', 'undici', 'curl/8.5.0', 'python-requests/2.31.0', 'Go-http-client/1.1', 'axios/1.6.8']) {
      expect(row({}, agent), agent).toMatchObject({ user_agent: agent, is_bot: 0 });
    }
    expect(row({ userAgent: 'curl/8.5.0' }, 'curl/8.5.0').is_bot).toBe(0);
    // A hand-made tag in a page: every browser's user agent, and every page-rendering crawler's, starts with Mozilla/.
    expect(row({}, 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36').is_bot).toBe(1);
    expect(row({ userAgent: googlebot }, 'curl/8.5.0').is_bot).toBe(1);
  });
});

describe('toDateTimeText', () => {
  it('formats every second right while its cache of recent seconds turns over', () => {
    const base = Date.UTC(2026, 10, 23, 6, 59, 58);
    // Alternating and then more distinct seconds than the cache keeps, each asked twice.
    const times = [0, 1500, 0, 1500, ...Array.from({ length: 20 }, (_, i) => i * 1000 + 999), 0, 1500].map((offset) => base + offset);
    for (const ms of [...times, ...times]) {
      expect(toDateTimeText(ms)).toBe(new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' '));
    }
    expect(toDateTimeText(base)).toBe('2026-11-23 06:59:58');
  });
});

describe('toEventRow and lone surrogates', () => {
  it('leaves JSON columns escaped and replaces lone surrogates in text columns', () => {
    const parsed = validateEvent({ type: 'track', event: 'cut \ud83d', anonymousId: 'a', properties: { note: 'x \ude00' }, context: { locale: 'y \ud83d' } });
    if (!parsed.ok) throw new Error(parsed.reason);
    const row = toEventRow(parsed.event, { source: 's', receivedAt: Date.now(), sentAt: undefined, ip: '', userAgent: '' });
    expect(row.event).toBe('cut \ufffd');
    expect(row.locale).toBe('y \ufffd');
    expect(row.properties).toBe('{"note":"x \\ude00"}');
    expect(row.context).toContain('"locale":"y \\ud83d"');
    for (const column of [row.properties, row.context]) expect(/[\ud800-\udfff]/.test(column)).toBe(false);
  });
});

describe('context_identity (the e-mail and phone of context.traits, for the identity graph)', () => {
  const rowOf = (raw: Record<string, unknown>) => {
    const parsed = validateEvent(raw);
    if (!parsed.ok) throw new Error(parsed.reason);
    return toEventRow(parsed.event, { source: 's', receivedAt: Date.now(), sentAt: undefined, ip: '', userAgent: '' }).context_identity;
  };
  const track = (traits: unknown, extra: Record<string, unknown> = {}) => rowOf({ type: 'track', event: 'x', userId: 'u1', context: { traits }, ...extra });

  it('keeps only email and phone, compact, in that order, for a non-identify event with a userId', () => {
    expect(track({ phone: '+44 20 7183 8750', name: 'Ann', email: 'ann@example.com' })).toBe('{"email":"ann@example.com","phone":"+44 20 7183 8750"}');
    expect(track({ email: 'ann@example.com' })).toBe('{"email":"ann@example.com"}');
    expect(rowOf({ type: 'page', userId: 'u1', anonymousId: 'a', context: { traits: { phone: '+79991234567' } } })).toBe('{"phone":"+79991234567"}');
    expect(rowOf({ type: 'screen', name: 'Home', userId: 'u1', context: { traits: { email: 'a@b.c' } } })).toBe('{"email":"a@b.c"}');
  });

  it('writes a phone sent as a number as its digits', () => {
    expect(track({ phone: 79991234567 })).toBe('{"phone":"79991234567"}');
  });

  it('is empty without a userId, for identify and alias, and without traits holding an e-mail or phone', () => {
    expect(rowOf({ type: 'track', event: 'x', anonymousId: 'a', context: { traits: { email: 'ann@example.com' } } })).toBe('');
    expect(rowOf({ type: 'identify', userId: 'u1', context: { traits: { email: 'ann@example.com' } } })).toBe('');
    expect(rowOf({ type: 'alias', userId: 'u1', previousId: 'u0', context: { traits: { email: 'ann@example.com' } } })).toBe('');
    expect(track({ name: 'Ann' })).toBe('');
    expect(track({})).toBe('');
    expect(rowOf({ type: 'track', event: 'x', userId: 'u1' })).toBe('');
  });

  it('is empty when traits are no object, and leaves out values of other types', () => {
    for (const traits of ['ann@example.com', ['ann@example.com'], null, 42, true]) expect(track(traits)).toBe('');
    expect(track({ email: ['ann@example.com'], phone: { number: '+79991234567' } })).toBe('');
    expect(track({ email: 42, phone: true })).toBe('');
    expect(track({ email: null, phone: '+79991234567' })).toBe('{"phone":"+79991234567"}');
    expect(track({ email: 'ann@example.com', phone: null })).toBe('{"email":"ann@example.com"}');
  });
});
