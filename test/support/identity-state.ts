// What the identity job leaves for a set of events, to compare an incremental run with a from-scratch resolution.
import { loadRows } from '../../collector/warehouse/generator/load';
import type { EventRow } from '../../collector/ingest/normalize';
import { runIdentityJob, type IdentityJobOptions } from '../../collector/warehouse/identity/job';
import { createTestDatabase, type TestDatabase } from './clickhouse';

/** identities_current, sorted. */
export const currentIdentities = (db: Pick<TestDatabase, 'rows'>) =>
  db.rows<{ identifier: string; valid_from: string; person_id: string }>('SELECT identifier, valid_from, person_id FROM identities_current ORDER BY identifier, valid_from, person_id');

/** Each event's person in person_events, by message id. */
export const attribution = (db: Pick<TestDatabase, 'rows'>) => db.rows<{ message_id: string; person_id: string }>('SELECT message_id, person_id FROM person_events ORDER BY message_id');

/** identities_current and person_events of `rows` loaded into a new database and resolved in one run. */
export async function fromScratch(options: IdentityJobOptions, rows: EventRow[]) {
  const fresh = await createTestDatabase('identity_scratch');
  try {
    await loadRows(fresh.client, rows);
    await runIdentityJob(fresh.client, options);
    return { identities: await currentIdentities(fresh), attribution: await attribution(fresh) };
  } finally {
    await fresh.drop();
  }
}
