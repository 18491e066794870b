import { describe, expect, it } from 'vitest';
import { readBatch } from './batch';
import { validateEvent } from './event';
import { anonymizeIp } from './ip';
import { correctedTime, toEventRow } from './normalize';
import { writeKeyFromAuthorization } from './write-key';

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

  it('reads events, sentAt, writeKey and top-level context', () => {
    const read = readBatch({ batch: [{ type: 'page' }], sentAt: '2026-01-01T00:00:00Z', writeKey: 'k', context: { ip: '1' } });
    expect(read).toEqual({ ok: true, batch: { events: [{ type: 'page' }], sentAt: '2026-01-01T00:00:00Z', writeKey: 'k', context: { ip: '1' } } });
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
    const result = validateEvent({ type: 'page', anonymousId: 'a', timestamp: '2026-01-01T12:00:00.250Z', context: { page: { path: '/p' } } });
    if (!result.ok) throw new Error(result.reason);
    const row = toEventRow(result.event, { source: 's', receivedAt: Date.parse('2026-01-01T12:00:01Z'), sentAt: undefined, ip: '1.2.3.0', userAgent: 'UA', context: { locale: 'en' } });
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
