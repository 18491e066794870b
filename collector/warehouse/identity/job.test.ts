// The identity job against ClickHouse: matches the generator's truth, gives the same identities when the
// same events arrive in another order and in small increments, and does nothing twice after a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/clickhouse';
import { generateDataset } from '../generator/generate';
import { deliveriesToRows, loadRows } from '../generator/load';
import { seededRandom } from '../generator/random';
import { createWarehouseClient } from '../client';
import { runIdentityJob } from './job';

const dataset = generateDataset({ seed: 11, people: 400 });
const rows = deliveriesToRows(dataset.deliveries);
let whole: TestDatabase;
let increments: TestDatabase;

const identities = (db: TestDatabase) =>
  db.rows<{ identifier: string; valid_from: string; person_id: string }>(
    'SELECT identifier, valid_from, person_id FROM identities_current ORDER BY identifier, valid_from',
  );

beforeAll(async () => {
  [whole, increments] = await Promise.all([createTestDatabase('identity_whole'), createTestDatabase('identity_steps')]);
}, 60_000);
afterAll(async () => {
  await whole.drop();
  await increments.drop();
});

describe('identity job', () => {
  it('resolves every person of the generated data as the generator intended', async () => {
    await loadRows(whole.client, rows);
    const result = await runIdentityJob(whole.client);
    expect(result.events).toBe(new Set(rows.filter((r) => r.type === 'identify').map((r) => r.message_id)).size);
    const mapped = await identities(whole);
    const byIdentifier = new Map<string, string[]>();
    for (const row of mapped) byIdentifier.set(row.identifier, [...(byIdentifier.get(row.identifier) ?? []), row.person_id]);
    for (const person of dataset.persons.filter((p) => p.personId.startsWith('user:'))) {
      for (const node of person.nodes) {
        const shared = dataset.sharedDevices.get(node);
        expect({ node, persons: byIdentifier.get(node) }).toEqual({ node, persons: shared ?? [person.personId] });
      }
    }
    expect(dataset.sharedDevices.size).toBeGreaterThan(0);
  });

  it('gives the same identities for the same events in another order, resolved in small increments', async () => {
    const shuffled = seededRandom(5).shuffle([...rows]);
    const chunk = Math.ceil(shuffled.length / 12);
    for (let i = 0; i < shuffled.length; i += chunk) {
      await loadRows(increments.client, shuffled.slice(i, i + chunk));
      // Generated received_at values span months, so look back over all of them; expandLimit forces the
      // node-by-node component expansion rather than the whole-graph fallback.
      await runIdentityJob(increments.client, { overlapSeconds: 10 * 365 * 86_400, expandLimit: 100_000 });
    }
    expect(await identities(increments)).toEqual(await identities(whole));
  });

  it('does no work twice, also after a restart (a new client reads the persisted checkpoint)', async () => {
    const restarted = createWarehouseClient(increments.url, increments.database);
    try {
      expect(await runIdentityJob(restarted, { overlapSeconds: 10 * 365 * 86_400 })).toEqual({ events: 0, identifiers: 0, staleIdentifiers: 0, personEvents: 0, rewrittenBuckets: 0 });
    } finally {
      await restarted.close();
    }
  });
});
