// One saved segment's routes (members, export, materialize) read and parse that segment only, and each stored
// version is parsed once: parsing compiles the rule, which for large rules blocks the event loop.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { parseSegmentRule } from '../query/segment-rules';
import { segmentStore } from './segments';

// Counts the parses the store makes; the parser itself is the real one.
vi.mock('../query/segment-rules', async (importOriginal) => {
  const original = await importOriginal<typeof import('../query/segment-rules')>();
  return { ...original, parseSegmentRule: vi.fn(original.parseSegmentRule) };
});
const parses = vi.mocked(parseSegmentRule);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('segment_lookup');
});
afterAll(() => db.drop());

describe('looking up a saved segment', () => {
  it('parses only the segment asked for, once per stored version; the list parses each version once', async () => {
    const store = segmentStore(db.client);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await store.create(`s${i}`, parseSegmentRule({ event: `Event ${i}`, withinDays: 7 }))).id);
    await db.client.insert({
      table: 'segments',
      values: [{ segment_id: 'seg_invalid', name: 'tiny', rule: '{"metric":"ltv","op":"gt","value":5e-324}', created_at: '2026-01-01 00:00:00', version: 1, deleted: 0 }],
      format: 'JSONEachRow',
    });
    const target = ids[5] as string;

    const fresh = segmentStore(db.client);
    parses.mockClear();
    expect(await fresh.get(target)).toMatchObject({ id: target, name: 's5' });
    expect(parses).toHaveBeenCalledTimes(1);
    await fresh.get(target);
    await fresh.lookup(target);
    expect(parses).toHaveBeenCalledTimes(1);

    expect(await fresh.lookup('seg_invalid')).toEqual({ invalid: { id: 'seg_invalid', name: 'tiny', problem: expect.stringMatching(/^rule\.value: must be 0 or at least/) } });
    expect(await fresh.get('seg_invalid')).toBeUndefined();
    expect(await fresh.lookup('seg_unknown')).toBeUndefined();
    expect(parses).toHaveBeenCalledTimes(2);

    // The list parses the others once (12 + the invalid one in all), then nothing while they are unchanged.
    parses.mockClear();
    expect((await fresh.list()).filter((s) => !s.builtin)).toHaveLength(12);
    expect(await fresh.invalid()).toHaveLength(1);
    expect(parses).toHaveBeenCalledTimes(11);
    await fresh.list();
    await fresh.get(ids[0] as string);
    expect(parses).toHaveBeenCalledTimes(11);

    // A new version (here: a delete) is read anew; a deleted segment is no longer found.
    expect(await fresh.remove(target)).toBe('deleted');
    expect(await fresh.lookup(target)).toBeUndefined();
    expect((await fresh.list()).map((s) => s.id)).not.toContain(target);
    expect(parses).toHaveBeenCalledTimes(11);
  });
});
