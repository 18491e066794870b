// The members page cursor: what formatMembersCursor writes parses back to the same run and member, whatever
// the person_id holds; anything else is refused naming `cursor`. Pure, no ClickHouse.
import { describe, expect, it } from 'vitest';
import { QueryInputError } from './conditions';
import { formatMembersCursor, parseMembersCursor } from './members-cursor';

const refusal = (value: unknown): unknown => {
  try {
    parseMembersCursor(value);
  } catch (error) {
    return error instanceof QueryInputError ? { path: error.path, message: error.message } : error;
  }
  return 'parsed';
};

describe('members cursor', () => {
  it('round-trips any person_id and run, as URL-safe text', () => {
    for (const from of ['', "o'brien", 'ends\\', 'a\u0000b', 'é😀日本', '\uD800', "x') OR 1=1 --", 'x'.repeat(2000)]) {
      for (const run of [{ run: 1732450000000, token: '0123456789abcdef' }, { run: 200, token: '' }]) {
        const cursor = formatMembersCursor({ run, from });
        expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(parseMembersCursor(cursor)).toEqual({ run, from });
      }
    }
  });

  it('refuses what it did not write, naming cursor', () => {
    const valid = formatMembersCursor({ run: { run: 5, token: 'ab' }, from: 'user:1' });
    const encode = (json: string) => Buffer.from(json).toString('base64url');
    const bad = [
      undefined,
      '',
      ['a', 'b'],
      `${valid}=`,
      `${valid.slice(0, -1)}~`,
      'not a cursor',
      '5-ab',
      encode('{"run":"5-ab","from":"x"}'),
      encode('["5-ab"]'),
      encode('["5-ab","x","y"]'),
      encode('["5-ab",7]'),
      encode('["5-a%b","x"]'),
      encode('[5,"x"]'),
      encode('["5-ab","x"'),
    ];
    for (const value of bad) {
      expect(refusal(value), JSON.stringify(value)).toEqual({ path: 'cursor', message: 'cursor: must be the `next` of an earlier members answer, passed back unchanged' });
    }
  });
});
