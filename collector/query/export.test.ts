// What the export reads as a marketing decision in a stored consent (compact JSON), on real ClickHouse.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { consentStatusSql, marketingDecisionSql, segmentCsv, type ExportRow } from './export';
import { str } from './literal';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('export_consent');
});
afterAll(() => db.drop());

const statusOf = async (consent: unknown, ids: string[] = []) => {
  const text = str(JSON.stringify(consent).toLowerCase());
  const [row] = await db.rows<{ status: string; decides: number }>(`SELECT ${consentStatusSql(text, ids)} AS status, ${marketingDecisionSql(text, ids)} AS decides`);
  return row?.decides === 1 ? row.status : `${row?.status} (no decision)`;
};

describe('the marketing consent an export reads', () => {
  it('denies with false, 0 or the text denied/false/0 in any case; one denial among grants denies', async () => {
    expect(await statusOf({ categoryPreferences: { marketing: false } })).toBe('denied');
    expect(await statusOf({ categoryPreferences: { Advertising: 0 } })).toBe('denied');
    expect(await statusOf({ ad_user_data: ' DENIED ' })).toBe('denied');
    expect(await statusOf({ ad_personalization: 'false', ad_user_data: 'granted' })).toBe('denied');
    expect(await statusOf({ categoryPreferences: { marketing: true, advertising: '0' } })).toBe('denied');
  });

  it('grants with true, 1 or granted/true/1; says nothing for other keys, other values or no consent', async () => {
    expect(await statusOf({ categoryPreferences: { marketing: true } })).toBe('granted');
    expect(await statusOf({ ad_user_data: 'Granted' })).toBe('granted');
    expect(await statusOf({ categoryPreferences: { analytics: false, personalization: false } })).toBe('undecided (no decision)');
    expect(await statusOf({ ad_storage: 'denied', analytics_storage: 'denied' })).toBe('undecided (no decision)');
    expect(await statusOf({ categoryPreferences: { marketing: null, advertising: 'maybe' } })).toBe('undecided (no decision)');
    expect(await statusOf({})).toBe('undecided (no decision)');
  });

  it('reads keys only, never text inside a value, and the ids an export names', async () => {
    expect(await statusOf({ note: '{"marketing":false}', categoryPreferences: { analytics: true } })).toBe('undecided (no decision)');
    expect(await statusOf({ categoryPreferences: { marketing_extra: false, C0004: false } })).toBe('undecided (no decision)');
    expect(await statusOf({ categoryPreferences: { C0004: false } }, ['C0004'])).toBe('denied');
    expect(await statusOf({ categoryPreferences: { 'c0.4': true, cx04: false } }, ['c0.4'])).toBe('granted');
  });
});

describe('the meta layout (Meta Custom Audiences customer list)', () => {
  // Stand-ins for SHA-256 hex: the layout only places them.
  const row = (person: string, emails: string[], phones: string[]): ExportRow => ({
    person_id: person,
    emails,
    phones: phones.map((p) => `e164:${p}`),
    phone_digits: phones.map((p) => `digits:${p}`),
  });

  it("has Meta's headers, a person's e-mails and phones on one row (up to three of each), phones as digits", async () => {
    const csv = await segmentCsv('meta', [row('user:a', ['ea1', 'ea2'], ['pa1']), row('user:b', [], ['pb1', 'pb2', 'pb3']), row('user:c', ['ec1'], [])]);
    expect(csv).toBe(
      'email,email,email,phone,phone,phone\r\n' + 'ea1,ea2,,digits:pa1,,\r\n' + ',,,digits:pb1,digits:pb2,digits:pb3\r\n' + 'ec1,,,,,\r\n',
    );
  });

  it('continues a person with more than three of a kind on a further row, and writes no row for one without contacts', async () => {
    const csv = await segmentCsv('meta', [row('user:a', ['e1', 'e2', 'e3', 'e4', 'e5'], ['p1', 'p2', 'p3', 'p4']), row('user:b', [], [])]);
    expect(csv).toBe('email,email,email,phone,phone,phone\r\n' + 'e1,e2,e3,digits:p1,digits:p2,digits:p3\r\n' + 'e4,e5,,digits:p4,,\r\n');
    expect(await segmentCsv('meta', [])).toBe('email,email,email,phone,phone,phone\r\n');
  });
});
