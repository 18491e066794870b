// Rule 4 of docs/analytics.md as a property: random small sets of identifies, aliases and context.traits events of
// three users sharing two e-mails and two phones (rule 1's contested claims), many in one second (message ids then
// decide the order), give the same identities and person_events loaded whole as shuffled and resolved two at a time.
import { describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/clickhouse';
import { eventRow } from '../../../test/support/events';
import type { EventRow } from '../../ingest/normalize';
import { loadRows } from '../generator/load';
import { seededRandom } from '../generator/random';
import { runIdentityJob } from './job';

const T = Date.UTC(2026, 5, 15, 12);
// Events are received at their event times, in the past: every run looks back over all of them.
const options = { overlapSeconds: 10 * 365 * 86_400, squashAfterNodes: 1e9 };

/** Nine events within two seconds; ids start with a, d or z, on both sides of context links' `context:…`. */
function randomEvents(seed: number): EventRow[] {
  const r = seededRandom(seed);
  const users = ['a', 'b', 'c'];
  const emails = ['one@example.com', 'two@example.com'];
  const phones = ['+79990001122', '+79990003344'];
  const devices = ['d1', 'd2', 'd3'];
  return Array.from({ length: 9 }, (_, i) => {
    const at = T + r.int(0, 1) * 1000 + r.int(0, 999);
    const messageId = `${r.pick(['a', 'd', 'z'])}${r.hex(2)}-${i}`;
    const traits: Record<string, unknown> = {};
    if (r.chance(0.6)) traits.email = r.pick(emails);
    if (r.chance(0.3)) traits.phone = r.pick(phones);
    const kind = r.int(0, 9);
    if (kind < 4) return eventRow({ type: 'identify', messageId, ...(r.chance(0.8) ? { userId: r.pick(users) } : {}), anonymousId: r.pick(devices), traits }, at);
    if (kind < 8) return eventRow({ type: 'track', event: 'Opened', messageId, userId: r.pick(users), ...(r.chance(0.5) ? { anonymousId: r.pick(devices) } : {}), context: { traits } }, at);
    if (kind < 9) return eventRow({ type: 'alias', messageId, userId: r.pick(users), previousId: r.pick(users), ...(r.chance(0.5) ? { anonymousId: r.pick(devices) } : {}) }, at);
    return eventRow({ type: 'page', name: 'Home', messageId, anonymousId: r.pick(devices) }, at);
  });
}

const outcome = async (db: TestDatabase) => ({
  identities: await db.rows('SELECT identifier, valid_from, person_id FROM identities_current ORDER BY identifier, valid_from'),
  attribution: await db.rows('SELECT message_id, person_id FROM person_events ORDER BY message_id'),
});

/** The outcome of `rows` loaded in `steps` of `size`, one identity run after each. */
async function resolvedIn(rows: EventRow[], size: number) {
  const db = await createTestDatabase('random_order');
  try {
    for (let i = 0; i < rows.length; i += size) {
      await loadRows(db.client, rows.slice(i, i + size));
      await runIdentityJob(db.client, options);
    }
    return await outcome(db);
  } finally {
    await db.drop();
  }
}

describe('random sets of contested identities', () => {
  // Seed 12 caught a context link skipped for an identify of its second whose id sorts after it.
  it('resolve alike whole and shuffled in increments', async () => {
    for (const seed of [12, 1, 2]) {
      const rows = randomEvents(seed);
      const whole = await resolvedIn(rows, rows.length);
      expect(whole.identities.length).toBeGreaterThan(0);
      expect({ seed, ...(await resolvedIn(seededRandom(seed * 7).shuffle([...rows]), 2)) }).toEqual({ seed, ...whole });
    }
  }, 120_000);
});
