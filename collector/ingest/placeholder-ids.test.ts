// Placeholder ids ("undefined", "null", "0", the zero UUID, the config's blockedIds) never identify anyone: the event
// is stored without them (what was sent kept in context.blockedIds), or quarantined when no id is left.
import { describe, expect, it } from 'vitest';
import { defaultLimits } from '../config';
import { readBatch } from './batch';
import { validateEvent } from './event';
import { toEventRow } from './normalize';
import { blockedIdSet, builtInPlaceholders, isPlaceholderId } from './placeholder-ids';
import { processBatch, type RequestContext } from './process';

const zeroUuid = '00000000-0000-0000-0000-000000000000';

describe('isPlaceholderId', () => {
  it('knows the built-in placeholders, case-insensitively and after trimming, and zeros and dashes', () => {
    expect(builtInPlaceholders).toEqual(['null', 'undefined', 'nil', 'none', 'nan', 'anonymous', 'unknown', '[object object]', '-1']);
    for (const value of [...builtInPlaceholders, ' Undefined ', 'NULL', '[object Object]', 'NaN', '0', '00', zeroUuid, '-', '0-0', ' -1 ']) {
      expect(isPlaceholderId(value), value).toBe(true);
    }
  });

  it('leaves real ids, the empty string (no id) and near misses alone', () => {
    for (const value of ['', 'u1', 'null-user', 'undefined1', '0a', '10', '-2', 'anon', '00000000-0000-0000-0000-000000000001', 'abc123']) {
      expect(isPlaceholderId(value), value).toBe(false);
    }
  });

  it("adds the config's values, compared case-insensitively after trimming", () => {
    const blocked = blockedIdSet([' ABC123 ', 'void']);
    expect(isPlaceholderId('abc123', blocked)).toBe(true);
    expect(isPlaceholderId(' Abc123', blocked)).toBe(true);
    expect(isPlaceholderId('VOID', blocked)).toBe(true);
    expect(isPlaceholderId('abc1234', blocked)).toBe(false);
    expect(isPlaceholderId('undefined', blocked)).toBe(true);
  });
});

describe('validateEvent with placeholder ids', () => {
  it('takes a placeholder userId, anonymousId or previousId off the event and records what was sent', () => {
    const result = validateEvent({ type: 'identify', userId: 'undefined', anonymousId: 'dev-1' });
    expect(result).toMatchObject({ ok: true, event: { userId: '', anonymousId: 'dev-1', blockedIds: { userId: 'undefined' } } });
    const zero = validateEvent({ type: 'track', event: 'E', userId: 'ann', anonymousId: zeroUuid });
    expect(zero).toMatchObject({ ok: true, event: { userId: 'ann', anonymousId: '', blockedIds: { anonymousId: zeroUuid } } });
    // Numbers as Segment's libraries send them.
    expect(validateEvent({ type: 'page', userId: 0, anonymousId: 'dev-1' })).toMatchObject({ ok: true, event: { userId: '', blockedIds: { userId: '0' } } });
    const alias = validateEvent({ type: 'alias', userId: 'ann', previousId: 'null', anonymousId: 'dev-1' });
    expect(alias).toMatchObject({ ok: true, event: { userId: 'ann', previousId: '', blockedIds: { previousId: 'null' } } });
  });

  it('records nothing for an event with real ids, and leaves groupId alone (it is no identity node)', () => {
    const result = validateEvent({ type: 'group', groupId: 'undefined', anonymousId: 'dev-1' });
    expect(result.ok && result.event.groupId).toBe('undefined');
    expect(result.ok && result.event.blockedIds).toBeUndefined();
  });

  it('refuses an event left without anonymousId and userId, naming the placeholder', () => {
    expect(validateEvent({ type: 'track', event: 'E', anonymousId: zeroUuid })).toEqual({
      ok: false,
      code: 'placeholder_id',
      reason: `anonymousId "${zeroUuid}" is a placeholder, not an id; anonymousId or userId is required`,
    });
    expect(validateEvent({ type: 'identify', userId: 'null', anonymousId: ' Unknown ' })).toEqual({
      ok: false,
      code: 'placeholder_id',
      reason: 'anonymousId " Unknown " and userId "null" are placeholders, not ids; anonymousId or userId is required',
    });
  });

  it('refuses an event whose only placeholder is its previousId for what it lacks, missing_id, not for the placeholder', () => {
    expect(validateEvent({ type: 'track', event: 'E', previousId: 'null' })).toEqual({ ok: false, code: 'missing_id', reason: 'anonymousId or userId is required' });
  });

  it('refuses an alias whose userId is a placeholder: an alias needs a userId', () => {
    expect(validateEvent({ type: 'alias', userId: 'undefined', previousId: 'u0', anonymousId: 'dev-1' })).toEqual({
      ok: false,
      code: 'placeholder_id',
      reason: 'userId "undefined" is a placeholder, not an id; alias needs a userId',
    });
  });

  it('accepts a placeholder-only event whose consent denies analytics (its ids go anyway), an alias too', () => {
    expect(validateEvent({ type: 'track', event: 'E', userId: 'undefined' }, { requireIds: false })).toMatchObject({ ok: true, event: { userId: '' } });
    expect(validateEvent({ type: 'alias', userId: 'undefined', previousId: 'u0' }, { requireIds: false })).toMatchObject({ ok: true, event: { userId: '', previousId: 'u0' } });
  });

  it("treats the config's values as placeholders", () => {
    const blockedIds = blockedIdSet(['abc123']);
    expect(validateEvent({ type: 'identify', userId: 'ABC123', anonymousId: 'dev-1' }, { blockedIds })).toMatchObject({ ok: true, event: { userId: '', blockedIds: { userId: 'ABC123' } } });
    expect(validateEvent({ type: 'identify', userId: 'abc123' }, { blockedIds })).toMatchObject({ ok: false, code: 'placeholder_id' });
    expect(validateEvent({ type: 'identify', userId: 'abc123' })).toMatchObject({ ok: true, event: { userId: 'abc123' } });
  });
});

describe('the events row of an event sent with placeholder ids', () => {
  const facts = { source: 's', receivedAt: Date.now(), sentAt: undefined, ip: '', userAgent: '' };
  const rowOf = (raw: Record<string, unknown>, blocked = blockedIdSet()) => {
    const parsed = validateEvent(raw, { blockedIds: blocked });
    if (!parsed.ok) throw new Error(parsed.reason);
    return toEventRow(parsed.event, { ...facts, blockedIds: blocked });
  };

  it('has empty id columns and what was sent under context.blockedIds, beside the rest of the context', () => {
    const row = rowOf({ type: 'track', event: 'E', userId: 'undefined', anonymousId: 'dev-1', context: { locale: 'en' } });
    expect([row.user_id, row.anonymous_id]).toEqual(['', 'dev-1']);
    expect(JSON.parse(row.context)).toEqual({ locale: 'en', blockedIds: { userId: 'undefined' } });
  });

  it('leaves the e-mail or phone of context.traits that the config blocks out of context_identity', () => {
    const blocked = blockedIdSet(['Test@Example.com', '+70000000000']);
    const row = rowOf({ type: 'track', event: 'E', userId: 'ann', context: { traits: { email: ' test@example.COM', phone: '+70000000000' } } }, blocked);
    expect(row.context_identity).toBe('');
    expect(rowOf({ type: 'track', event: 'E', userId: 'ann', context: { traits: { email: 'test@example.com', phone: '+79991234567' } } }, blocked).context_identity).toBe(
      '{"phone":"+79991234567"}',
    );
  });
});

describe('processBatch with placeholder ids', () => {
  const request: RequestContext = { source: 's', consentPolicy: 'strip', receivedAt: Date.now(), ip: '203.0.113.0', keepFullIp: false, userAgent: 'UA' };
  const batch = (events: unknown[]) => {
    const read = readBatch({ batch: events });
    if (!read.ok) throw new Error(read.message);
    return read.batch;
  };

  it('stores the event without the placeholder and quarantines the one left with no id, with the reason', () => {
    const out = processBatch(
      batch([
        { type: 'identify', userId: 'undefined', anonymousId: 'dev-1', traits: { email: 'a@example.com' } },
        { type: 'track', event: 'E', anonymousId: zeroUuid, properties: { p: 1 } },
        { type: 'track', event: 'E', userId: 'Abc123', anonymousId: 'dev-2' },
      ]),
      { ...request, blockedIds: blockedIdSet(['abc123']) },
      defaultLimits,
    );
    expect(out.rows.map((row) => [row.user_id, row.anonymous_id, JSON.parse(row.context).blockedIds])).toEqual([
      ['', 'dev-1', { userId: 'undefined' }],
      ['', 'dev-2', { userId: 'Abc123' }],
    ]);
    expect(out.rejected).toEqual([{ index: 1, reason: `anonymousId "${zeroUuid}" is a placeholder, not an id; anonymousId or userId is required` }]);
    expect(out.rejectedCodes).toEqual(['placeholder_id']);
    expect(out.quarantine).toHaveLength(1);
    // Quarantined as sent, placeholder included.
    expect(JSON.parse(out.quarantine[0]?.raw ?? '{}')).toMatchObject({ anonymousId: zeroUuid, properties: { p: 1 } });
    expect(out.blockedIds).toBe(2);
  });

  it("stores no context.blockedIds of the client's: only the collector's, replacing the client's", () => {
    const sent = { type: 'track', event: 'E', userId: 'ann', context: { locale: 'en', blockedIds: { userId: 'forged' } } };
    const out = processBatch(batch([sent, { ...sent, anonymousId: 'undefined' }]), request, defaultLimits);
    expect(out.rows.map((row) => JSON.parse(row.context))).toEqual([{ locale: 'en' }, { locale: 'en', blockedIds: { anonymousId: 'undefined' } }]);
    // From the batch's context too.
    const read = readBatch({ batch: [{ type: 'track', event: 'E', userId: 'ann' }], context: { blockedIds: { userId: 'forged' } } });
    if (!read.ok) throw new Error(read.message);
    expect(JSON.parse(processBatch(read.batch, request, defaultLimits).rows[0]?.context ?? '')).toEqual({});
  });

  it('keeps no trace of the ids of an event whose consent strips them', () => {
    const out = processBatch(batch([{ type: 'track', event: 'E', userId: 'undefined', anonymousId: 'dev-1', context: { consent: { categoryPreferences: { analytics: false } } } }]), request, defaultLimits);
    expect(out.stripped).toBe(1);
    expect(out.rows.map((row) => [row.user_id, row.anonymous_id])).toEqual([['', '']]);
    expect(JSON.parse(out.rows[0]?.context ?? '{}').blockedIds).toBeUndefined();
    // Nor what the client put in context.blockedIds, which may be an identifier.
    const own = processBatch(
      batch([{ type: 'track', event: 'E', userId: 'ann', context: { blockedIds: { userId: 'ann-42' }, consent: { categoryPreferences: { analytics: false } } } }]),
      request,
      defaultLimits,
    );
    expect(own.stripped).toBe(1);
    expect(own.rows[0]?.context).not.toContain('ann-42');
  });
});
