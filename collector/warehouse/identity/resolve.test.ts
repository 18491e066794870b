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

  it("gives a shared device no period of no length: of two switches in one second, that second's latest identify counts", () => {
    // u2 then u1 again in second 500 (message ids order them), u2 then u3 in second 700, u3 from second 0 on.
    const result = resolveIdentities([
      identify(100, 'kiosk', 'u1'), identify(500, 'kiosk', 'u2'), identify(500, 'kiosk', 'u1'), identify(700, 'kiosk', 'u2'), identify(700, 'kiosk', 'u3'),
      identify(0, 'kiosk-2', 'u1'), identify(0, 'kiosk-2', 'u3'),
    ]);
    expect(result.get('anon:kiosk')).toEqual([
      { validFrom: 0, personId: 'user:u1' },
      { validFrom: 700, personId: 'user:u3' },
    ]);
    expect(result.get('anon:kiosk-2')).toEqual([{ validFrom: 0, personId: 'user:u3' }]);
  });

  it('never merges two userIds through a shared e-mail: the e-mail stays with the first to claim it by event time', () => {
    // u2's message is made first (the smaller message id) but happens later: event time decides, not input order.
    const second = identify(200, 'd2', 'u2', { email: 'family@x.io' });
    const first = identify(100, 'd1', 'u1', { email: ' Family@X.io' });
    const later = identify(300, 'd3', '', { email: 'family@x.io' });
    for (const messages of [[second, first, later], [later, first, second], [first, second, later]]) {
      const result = resolveIdentities(messages);
      for (const node of ['user:u1', 'anon:d1', email('family@x.io'), 'anon:d3']) expect(personOf(result, node)).toEqual(['user:u1']);
      for (const node of ['user:u2', 'anon:d2']) expect(personOf(result, node)).toEqual(['user:u2']);
    }
    // The other way round in time: u2 keeps it.
    const swapped = resolveIdentities([{ ...first, time: 250 }, second]);
    expect(personOf(swapped, email('family@x.io'))).toEqual(['user:u2']);
    expect(personOf(swapped, 'user:u1')).toEqual(['user:u1']);
  });

  it('never merges two userIds through a shared phone, and a message still joins what does not conflict', () => {
    const result = resolveIdentities([
      identify(100, 'd1', 'u1', { phone: '+7 999 000 11 22' }),
      identify(200, 'd2', 'u2', { phone: '89990001122', email: 'own@x.io' }),
    ]);
    for (const node of ['user:u1', 'anon:d1', `phone:${sha256('+79990001122')}`, `phone_digits:${sha256('79990001122')}`]) {
      expect(personOf(result, node)).toEqual(['user:u1']);
    }
    for (const node of ['user:u2', 'anon:d2', email('own@x.io')]) expect(personOf(result, node)).toEqual(['user:u2']);
  });

  it('joins a user-less identify to its first node (compareNodes order) and leaves out what belongs to another user', () => {
    const result = resolveIdentities([
      identify(100, 'd1', 'u1', { email: 'one@x.io' }),
      identify(200, 'd2', 'u2', { phone: '+7 999 000 11 22' }),
      // Bridges the two: the e-mail comes first, so the message (and its device) goes with u1; the phone stays with u2.
      identify(300, 'd3', '', { email: 'one@x.io', phone: '+7 999 000 11 22' }),
    ]);
    for (const node of ['user:u1', 'anon:d1', email('one@x.io'), 'anon:d3']) expect(personOf(result, node)).toEqual(['user:u1']);
    for (const node of ['user:u2', 'anon:d2', `phone:${sha256('+79990001122')}`]) expect(personOf(result, node)).toEqual(['user:u2']);
  });

  it("joins a user-less identify whose first node belongs to no user to the person of its other nodes' user", () => {
    const result = resolveIdentities([
      identify(100, 'd1', 'u1', { phone: '+7 999 000 11 22' }),
      // A new e-mail with u1's phone: one userId either way, so the e-mail and the device become u1's.
      identify(200, 'd2', '', { email: 'new@x.io', phone: '+7 999 000 11 22' }),
    ]);
    for (const node of ['user:u1', 'anon:d1', email('new@x.io'), 'anon:d2']) expect(personOf(result, node)).toEqual(['user:u1']);
  });

  it('still merges two userIds through an alias, with the e-mails they hold', () => {
    const alias = (time: number, userId: string, previousId: string): IdentityMessage => ({
      messageId: `alias-${time}`,
      time,
      ...eventNodes({ type: 'alias', anonymousId: '', userId, previousId, traits: '{}' }),
    });
    const shared = [identify(1, 'd1', 'u1', { email: 'same@x.io' }), identify(2, 'd2', 'u2', { email: 'same@x.io' })];
    // u2 renamed to u9: one person, still apart from u1, who holds the e-mail.
    const renamed = resolveIdentities([...shared, alias(3, 'u9', 'u2')]);
    for (const node of ['user:u1', 'anon:d1', email('same@x.io')]) expect(personOf(renamed, node)).toEqual(['user:u1']);
    for (const node of ['user:u2', 'user:u9', 'anon:d2']) expect(personOf(renamed, node)).toEqual(['user:u2']);
    // An alias of u2 to u1 merges them, e-mails included.
    const merged = resolveIdentities([...shared, identify(3, 'd3', 'u3', { email: 'mine@x.io' }), alias(4, 'u1', 'u3')]);
    for (const node of ['user:u1', 'user:u3', 'anon:d1', 'anon:d3', email('same@x.io'), email('mine@x.io')]) expect(personOf(merged, node)).toEqual(['user:u1']);
    expect(personOf(merged, 'user:u2')).toEqual(['user:u2']);
    // A device of the aliased person that also identified with an e-mail alone takes that e-mail: one person holds
    // both userIds, so the device is not shared.
    const device = resolveIdentities([alias(1, 'u9', 'u2'), identify(2, 'dx', '', { email: 'anon@x.io' }), identify(3, 'dx', 'u2')]);
    for (const node of ['user:u2', 'user:u9', 'anon:dx', email('anon@x.io')]) expect(device.get(node)).toEqual([{ validFrom: 0, personId: 'user:u2' }]);
  });

  it('keeps a device of two users that share an e-mail shared', () => {
    const result = resolveIdentities([
      identify(100, 'family', 'u1', { email: 'home@x.io' }),
      identify(200, 'family', 'u2', { email: 'home@x.io' }),
      identify(300, 'family', '', { email: 'home@x.io' }),
    ]);
    expect(personOf(result, 'user:u2')).toEqual(['user:u2']);
    expect(personOf(result, email('home@x.io'))).toEqual(['user:u1']);
    expect(result.get('anon:family')).toEqual([
      { validFrom: 0, personId: 'user:u1' },
      { validFrom: 200, personId: 'user:u2' },
      { validFrom: 300, personId: 'user:u1' },
    ]);
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
      // Shared e-mails and phones: u4 claims qa@ first; u5 at the same second (a larger message id), u6 later.
      identify(80, 'f', 'u4', { email: 'qa@x.io' }),
      identify(80, 'g', 'u5', { email: 'qa@x.io', phone: '+7 999 000 11 22' }),
      identify(90, 'h', 'u6', { email: 'qa@x.io' }),
      identify(95, 'i', '', { email: 'qa@x.io', phone: '+79990001122' }),
    ];
    const expected = resolveIdentities(messages);
    const rnd = seededRandom(3);
    for (let i = 0; i < 20; i++) expect(resolveIdentities(rnd.shuffle([...messages]))).toEqual(expected);
    expect(personOf(expected, 'anon:d')).toEqual(['user:u2']);
    expect(personOf(expected, 'anon:e')).toEqual([email('lonely@x.io')]);
    expect(personOf(expected, email('qa@x.io'))).toEqual(['user:u4']);
    for (const user of ['u4', 'u5', 'u6']) expect(personOf(expected, `user:${user}`)).toEqual([`user:${user}`]);
    expect(personOf(expected, 'anon:i')).toEqual(['user:u4']);
  });
});
