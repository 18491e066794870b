// The TabSeparated row text against the real tables: every column in the order the text has it, and
// escapes read back as the values they stand for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { linesWriter } from './lines';
import { columnsOf, lineFields, quarantineLine } from './row-text';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('rowtext');
});
afterAll(async () => {
  await db?.drop();
});

describe('row text', () => {
  it('names every column of events, events_quarantine and consent_refusals', async () => {
    for (const table of ['events', 'events_quarantine', 'consent_refusals'] as const) {
      const columns = await db.rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${table}'`);
      expect([...columnsOf[table]].sort()).toEqual(columns.map((c) => c.name).sort());
    }
  });

  it('escapes what TabSeparated needs escaped and reads it back', async () => {
    const raw = 'a\tb\nc\\d\re\0f \\t "quoted" \u00e9';
    const line = quarantineLine({ received_at: '2026-11-23 10:00:00', source: 's\tx', reason: 'r', raw });
    expect(line.split('\n')).toHaveLength(2);
    expect(line.split('\t')).toHaveLength(4);
    expect(lineFields(line)).toEqual(['2026-11-23 10:00:00', 's\tx', 'r', raw]);
    await linesWriter(db.client).insertLines('events_quarantine', 'TabSeparated', [Buffer.from(line)]);
    const stored = await db.rows<{ source: string; raw: string }>("SELECT source, raw FROM events_quarantine WHERE reason = 'r'");
    expect(stored).toEqual([{ source: 's\tx', raw }]);
  });
});
