// The funnel builder's levels (query/funnel-levels.ts) on ClickHouse against a plain reference: random persons'
// events, each person's level the furthest any start reaches, following each start by the earliest next step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/clickhouse';
import { funnelLevelsSql } from '../query/funnel-levels';

interface Event {
  order: number;
  mask: number;
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('levels');
}, 60_000);
afterAll(() => db.drop());

/** A deterministic pseudo-random generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const msOf = (e: Event): number => Math.floor(e.order / 65536);

/** The reference: from each step-1 event, the earliest later event of each next step within the window. */
function referenceLevel(events: Event[], steps: number, windowMs: number): number {
  // Event order; events of one order in step order (by mask), as the builder takes them.
  const sorted = [...events].sort((a, b) => a.order - b.order || a.mask - b.mask);
  let best = 0;
  sorted.forEach((start, i) => {
    if ((start.mask & 1) === 0) return;
    let level = 1;
    for (let j = i + 1; j < sorted.length && level < steps; j++) {
      const e = sorted[j] as Event;
      if (msOf(e) - msOf(start) > windowMs) break;
      if (e.mask & (1 << level)) level++;
    }
    best = Math.max(best, level);
  });
  return best;
}

describe('funnel levels', () => {
  it('match the reference on random persons: ties in ms and batch position, events meeting several steps, windows', async () => {
    const next = random(20261124);
    const steps = 4;
    const windowMs = 5_000;
    const persons = Array.from({ length: 200 }, () =>
      Array.from({ length: 1 + Math.floor(next() * 12) }, (): Event => {
        // A few ms and batch positions over ~12 s, so that ties, window edges and repeats are common (early ms: the
        // event_order, ms · 65536, stays a safe integer in JS).
        const ms = 1_000_000_000 + Math.floor(next() * 6) * 2_500 + Math.floor(next() * 2);
        return { order: ms * 65536 + Math.floor(next() * 2), mask: 1 + Math.floor(next() * (2 ** steps - 1)) };
      }),
    );
    // One query per person, as the builder's levels have no person column: the persons who reach step 1 have a row.
    const rowsOf = (events: Event[]) =>
      `(SELECT toUInt64(1) AS person_key, toUInt64(t.1) AS event_order, toUInt32(t.2) AS step_mask FROM (SELECT arrayJoin([${events.map((e) => `(${e.order}, ${e.mask})`).join(', ')}]) AS t))`;
    for (const [i, events] of persons.entries()) {
      const [row] = await db.rows<{ level: number }>(funnelLevelsSql({ rows: rowsOf(events), steps, windowMs }));
      expect(Number(row?.level ?? 0), `person ${i}: ${JSON.stringify(events)}`).toBe(referenceLevel(events, steps, windowMs));
    }
  });
});
