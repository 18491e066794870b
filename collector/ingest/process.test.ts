// processBatch: what is stored and what is quarantined, as pure data.
import { describe, expect, it } from 'vitest';
import { defaultLimits } from '../config';
import type { BatchEnvelope } from './batch';
import { processBatch, type RequestContext } from './process';

const request: RequestContext = { source: 's', consentPolicy: 'strip', receivedAt: Date.now(), ip: '203.0.113.0', keepFullIp: false, userAgent: 'UA' };
const batch = (events: unknown[], context: Record<string, unknown> = {}): BatchEnvelope => ({ events, sentAt: undefined, writeKey: undefined, context });
const track = (extra: Record<string, unknown> = {}) => ({ type: 'track', event: 'E', anonymousId: 'anon-1', ...extra });

describe('processBatch', () => {
  it('counts the batch context toward each event size, so one request cannot multiply a large context', () => {
    const big = { pad: 'x'.repeat(40_000) };
    const result = processBatch(batch([track(), track()], big), request, defaultLimits);
    expect(result.rows).toHaveLength(0);
    expect(result.rejected.map((r) => r.index)).toEqual([0, 1]);
    expect(result.rejected[0]?.reason).toMatch(/at most 32768 bytes/);
    // A small batch context still merges under the event's own.
    const small = processBatch(batch([track({ context: { locale: 'de' } })], { app: { name: 'pos' }, locale: 'en' }), request, defaultLimits);
    expect(JSON.parse(small.rows[0]?.context ?? '{}')).toEqual({ app: { name: 'pos' }, locale: 'de' });
  });

  it('refuses a batch context nested too deeply instead of overflowing the stack', () => {
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 10_000; i++) deep = (deep.next = {}) as Record<string, unknown>;
    const result = processBatch(batch([track()], root), request, defaultLimits);
    expect(result.rows).toHaveLength(0);
    expect(result.rejected[0]?.reason).toMatch(/nested deeper/);
  });

  it('refuses an event stored larger than the limit even when its body was smaller (numbers grow when written again)', () => {
    // 6,000 times `1e20` (4 bytes) in the body become 6,000 times `100000000000000000000` (21 bytes) stored.
    const body = `{"batch":[{"type":"track","event":"expand","anonymousId":"a","properties":{"n":[${Array(6000).fill('1e20').join(',')}]}}]}`;
    expect(Buffer.byteLength(body)).toBeLessThan(defaultLimits.eventBytes);
    const result = processBatch(batch((JSON.parse(body) as { batch: unknown[] }).batch), request, defaultLimits, Buffer.byteLength(body));
    expect(result.rows).toHaveLength(0);
    expect(result.rejected[0]?.reason).toMatch(/^event is 132,?\d{3} bytes; at most 32768 bytes/);
    // A small body still skips the check and is stored.
    const small = '{"batch":[{"type":"track","event":"small","anonymousId":"a","properties":{"n":[1e20,1e20]}}]}';
    expect(processBatch(batch((JSON.parse(small) as { batch: unknown[] }).batch), request, defaultLimits, Buffer.byteLength(small)).rows).toHaveLength(1);
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

  it('anonymises an IP sent in context.ip unless the source keeps full IPs', () => {
    const sent = track({ context: { ip: '198.51.100.77' } });
    const anonymised = processBatch(batch([sent]), request, defaultLimits);
    expect(JSON.parse(anonymised.rows[0]?.context ?? '{}')).toMatchObject({ ip: '198.51.100.0' });
    const kept = processBatch(batch([sent]), { ...request, keepFullIp: true }, defaultLimits);
    expect(JSON.parse(kept.rows[0]?.context ?? '{}')).toMatchObject({ ip: '198.51.100.77' });
  });
});
