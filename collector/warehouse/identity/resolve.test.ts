import { describe, expect, it } from 'vitest';
import { seededRandom } from '../generator/random';
import { blockedIdSet } from '../../ingest/placeholder-ids';
import { eventNodes, normalizeEmail, normalizePhone, sha256 } from './identifiers';
import { resolveIdentities, type IdentityMessage } from './resolve';

let counter = 0;
const identify = (time: number, anonymousId: string, userId: string, traits: Record<string, unknown> = {}): IdentityMessage => ({
  messageId: `m${String(counter++).padStart(4, '0')}`,
  time,
  ...eventNodes({ type: 'identify', anonymousId, userId, previousId: '', traits: JSON.stringify(traits) }),
});
const personOf = (result: Map<string, { personId: string }[]>, node: string) => result.get(node)?.map((p) => p.personId);
const email = (text: string) => `email:${sha256(normalizeEmail(text) as string)}`;

describe('identifiers', () => {
  it('normalise e-mails (trim, lower-case) and phones (E.164) before hashing', () => {
    expect(normalizeEmail('  Ann@Example.COM ')).toBe('ann@example.com');
    expect(normalizeEmail('not an email')).toBeUndefined();
    expect(normalizePhone('+7 (999) 555-11-22')).toBe('+79995551122');
    expect(normalizePhone('8 999 555 11 22')).toBe('+79995551122');
    expect(normalizePhone('0044 20 7183 8750')).toBe('+442071838750');
    expect(normalizePhone('555-1234')).toBeUndefined();
    // The national trunk prefix written after the country code, "(0)", is not dialled from abroad.
    expect(normalizePhone('+44 (0) 20 7183 8750')).toBe('+442071838750');
    expect(normalizePhone('+44(0)20 7183 8750')).toBe('+442071838750');
    expect(normalizePhone('0044 (0)20-7183-8750')).toBe('+442071838750');
    expect(normalizePhone('+49 (0)30 901820')).toBe('+4930901820');
    // Italy and San Marino keep the 0 in international numbers: there "(0)" is part of the number.
    expect(normalizePhone('+39 (0)6 1234 5678')).toBe('+390612345678');
    expect(normalizePhone('0039 (0)6 1234 5678')).toBe('+390612345678');
    expect(normalizePhone('+378 (0)549 123456')).toBe('+3780549123456');
    // The trunk 0 written without brackets after a code written apart: the national form behind the code.
    expect(normalizePhone('+44 020 7183 8750')).toBe('+442071838750');
    expect(normalizePhone('0044 020 7183 8750')).toBe('+442071838750');
    expect(normalizePhone('+49 0151 12345678')).toBe('+4915112345678');
    expect(normalizePhone('+49-0151-12345678')).toBe('+4915112345678');
    expect(normalizePhone('+33 06 12 34 56 78')).toBe('+33612345678');
    expect(normalizePhone('+61 04 1234 5678')).toBe('+61412345678');
    expect(normalizePhone('+44 0 20 7183 8750')).toBe('+442071838750');
    // Where a 0 after the code is the number's own digit (libphonenumber: no national prefix, numbers from 0).
    expect(normalizePhone('+39 06 1234 5678')).toBe('+390612345678');
    expect(normalizePhone('+378 0549 123456')).toBe('+3780549123456');
    expect(normalizePhone('+225 07 07 12 34 56')).toBe('+2250707123456');
    expect(normalizePhone('+225 (0)7 07 12 34 56')).toBe('+2250707123456');
    expect(normalizePhone('+242 06 123 4567')).toBe('+242061234567');
    expect(normalizePhone('+241 06 03 12 34')).toBe('+24106031234');
    expect(normalizePhone('+227 08 12 34 56')).toBe('+22708123456');
    // A code written together with the rest cannot be told apart from the number: left as written.
    expect(normalizePhone('+4402071838750')).toBe('+4402071838750');
    expect(eventNodes({ type: 'identify', anonymousId: 'a', userId: '', previousId: '', traits: '{"phone":"+44 020 7183 8750"}' }).strong).toEqual(
      eventNodes({ type: 'identify', anonymousId: 'a', userId: '', previousId: '', traits: '{"phone":"+44 20 7183 8750"}' }).strong,
    );
    expect(eventNodes({ type: 'identify', anonymousId: 'a', userId: '', previousId: '', traits: '{"phone":"+44 (0) 20 7183 8750"}' }).strong).toEqual([
      `phone:${sha256('+442071838750')}`,
      `phone_digits:${sha256('442071838750')}`,
    ]);
    const nodes = eventNodes({ type: 'identify', anonymousId: 'a', userId: 'u', previousId: '', traits: '{"email":" A@B.co ","phone":"8 (999) 555-11-22"}' });
    expect(nodes.device).toBe('anon:a');
    expect(nodes.strong).toEqual(['user:u', `email:${sha256('a@b.co')}`, `phone:${sha256('+79995551122')}`, `phone_digits:${sha256('79995551122')}`]);
  });

  it('make no node of a placeholder id (rows stored before ingest took them off), nor of an e-mail or phone the config blocks', () => {
    const alias = eventNodes({ type: 'alias', anonymousId: '0', userId: 'undefined', previousId: 'NULL', traits: '{}' });
    expect(alias).toEqual({ strong: [], device: undefined });
    const blocked = blockedIdSet(['Test@Example.com', '+7 999 000-00-00']);
    const nodes = eventNodes({ type: 'identify', anonymousId: 'a', userId: 'u', previousId: '', traits: '{"email":" test@example.com","phone":"8 999 000 00 00"}' }, blocked);
    expect(nodes).toEqual({ strong: ['user:u'], device: 'anon:a' });
    const known = eventNodes({ type: 'identify', anonymousId: 'a', userId: 'u', previousId: '', traits: '{"email":"test@example.com"}' });
    expect(known.strong).toEqual(['user:u', `email:${sha256('test@example.com')}`]);
  });
});

describe('resolveIdentities', () => {
  it('merges across hops: device A ↔ user 1 ↔ e-mail ↔ device B', () => {
    const result = resolveIdentities([identify(100, 'dev-a', 'u1', { email: 'x@shop.io' }), identify(200, 'dev-b', '', { email: ' X@Shop.io' })]);
    for (const node of ['anon:dev-a', 'anon:dev-b', 'user:u1', email('x@shop.io')]) expect(personOf(result, node)).toEqual(['user:u1']);
  });

  it('never merges two userIds through a shared device; the device follows the latest identify', () => {
    const result = resolveIdentities([identify(100, 'family', 'u1'), identify(500, 'family', 'u2'), identify(900, 'family', 'u1'), identify(50, 'phone-1', 'u1')]);
    expect(personOf(result, 'user:u1')).toEqual(['user:u1']);
    expect(personOf(result, 'user:u2')).toEqual(['user:u2']);
    expect(personOf(result, 'anon:phone-1')).toEqual(['user:u1']);
    expect(result.get('anon:family')).toEqual([
      { validFrom: 0, personId: 'user:u1' },
      { validFrom: 500, personId: 'user:u2' },
      { validFrom: 900, personId: 'user:u1' },
    ]);
  });

  it('merges two userIds that share an e-mail, and alias merges explicitly', () => {
    const result = resolveIdentities([
      identify(1, 'd1', 'u1', { email: 'same@x.io' }),
      identify(2, 'd2', 'u2', { email: 'same@x.io' }),
      { messageId: 'alias', time: 3, ...eventNodes({ type: 'alias', anonymousId: '', userId: 'u9', previousId: 'u2', traits: '{}' }) },
    ]);
    for (const node of ['user:u1', 'user:u2', 'user:u9', 'anon:d1', 'anon:d2']) expect(personOf(result, node)).toEqual(['user:u1']);
  });

  it("reads the SDK's alias() before any identify (previousId = anonymousId) as the device, not a second user", () => {
    const alias = eventNodes({ type: 'alias', anonymousId: 'dev-a', userId: 'zoe', previousId: 'dev-a', traits: '{}' });
    expect(alias).toEqual({ strong: ['user:zoe'], device: 'anon:dev-a' });
    const result = resolveIdentities([
      { messageId: 'alias-a', time: 10, ...alias },
      identify(20, 'dev-b', '', { email: 'zoe@x.io' }),
      identify(30, 'dev-b', 'zoe', { email: 'zoe@x.io' }),
    ]);
    for (const node of ['anon:dev-a', 'anon:dev-b', 'user:zoe', email('zoe@x.io')]) expect(result.get(node)).toEqual([{ validFrom: 0, personId: 'user:zoe' }]);
    expect(result.has('user:dev-a')).toBe(false);
  });

  it('names a person after the userId, not a server-side alias\'s previousId that was only ever an anonymous id', () => {
    // The backend aliases the visitor's anonymous id (a UUID, which sorts before most userIds) to the account.
    const alias = eventNodes({ type: 'alias', anonymousId: '', userId: 'zoe', previousId: '3f2a-anon', traits: '{}' });
    expect(alias).toEqual({ strong: ['user:zoe', 'user:3f2a-anon'], device: 'anon:3f2a-anon', previous: 'user:3f2a-anon' });
    const result = resolveIdentities([{ messageId: 'alias', time: 10, ...alias }]);
    for (const node of ['anon:3f2a-anon', 'user:zoe', 'user:3f2a-anon']) expect(personOf(result, node)).toEqual(['user:zoe']);
    // An earlier userId that identified itself is a userId like any other: the first in order names the person.
    const renamed = eventNodes({ type: 'alias', anonymousId: '', userId: 'u9', previousId: 'u2', traits: '{}' });
    const both = resolveIdentities([identify(1, 'd2', 'u2'), { messageId: 'rename', time: 3, ...renamed }]);
    for (const node of ['user:u2', 'user:u9', 'anon:d2']) expect(personOf(both, node)).toEqual(['user:u2']);
  });

  it('gives the same persons whatever the order of the events', () => {
    const messages = [
      identify(10, 'a', 'u1', { email: 'one@x.io' }),
      identify(20, 'b', '', { email: 'one@x.io' }),
      identify(30, 'b', 'u2'),
      identify(40, 'c', 'u2', { phone: '+7 999 000 11 22' }),
      identify(50, 'd', '', { phone: '89990001122' }),
      identify(60, 'a', 'u3'),
      identify(70, 'e', '', { email: 'lonely@x.io' }),
    ];
    const expected = resolveIdentities(messages);
    const rnd = seededRandom(3);
    for (let i = 0; i < 20; i++) expect(resolveIdentities(rnd.shuffle([...messages]))).toEqual(expected);
    expect(personOf(expected, 'anon:d')).toEqual(['user:u2']);
    expect(personOf(expected, 'anon:e')).toEqual([email('lonely@x.io')]);
  });
});
