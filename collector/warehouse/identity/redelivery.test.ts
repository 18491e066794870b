// One event delivered stripped, then again with its ids in the same second: what the consent plugin's
// cookieless mode sends when a visitor accepts right after landing (the collector's `strip` policy removed the
// ids of the first delivery). received_at has whole seconds, so the job must tell the two apart by the ids.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/clickhouse';
import { eventRow } from '../../../test/support/events';
import { loadRows } from '../generator/load';
import { runIdentityJob } from './job';

let db: TestDatabase;
// The events are received at their event times, in the past: look back over all of them.
const resolve = () => runIdentityJob(db.client, { overlapSeconds: 10 * 365 * 86_400 });

beforeAll(async () => {
  db = await createTestDatabase('redelivery');
}, 60_000);
afterAll(() => db.drop());

/** The landing view of `visitor` as sent after the grant, and as the collector stored it before (no ids). */
function deliveries(visitor: string, at: number) {
  const identified = eventRow({ type: 'page', messageId: `landing-${visitor}`, anonymousId: visitor, context: { page: { path: '/landing' }, sessionId: 's-1' } }, at);
  return { identified, stripped: { ...identified, anonymous_id: '', session_id: '' } };
}
const attributed = (visitor: string) => db.rows(`SELECT person_id, anonymous_id FROM person_events WHERE message_id = 'landing-${visitor}'`);

describe('a stripped delivery and one with ids in the same second', () => {
  it('the one with ids is kept, as events_dedup keeps it, in one batch or two', async () => {
    const at = Date.UTC(2026, 4, 1, 10, 0, 0, 200);
    // One batch: the stripped copy had not left the browser yet when the visitor accepted.
    const sameBatch = deliveries('v-1', at);
    await loadRows(db.client, [sameBatch.stripped, sameBatch.identified]);
    const twoBatches = deliveries('v-2', at);
    await loadRows(db.client, [twoBatches.stripped]);
    await loadRows(db.client, [twoBatches.identified]);
    await resolve();
    for (const visitor of ['v-1', 'v-2']) {
      expect(await attributed(visitor)).toEqual([{ person_id: `anon:${visitor}`, anonymous_id: visitor }]);
      expect(await db.rows(`SELECT anonymous_id FROM events_dedup WHERE message_id = 'landing-${visitor}'`)).toEqual([{ anonymous_id: visitor }]);
    }
  });

  it('replaces the stripped row stored by an earlier run', async () => {
    const { stripped, identified } = deliveries('v-3', Date.UTC(2026, 4, 2, 10, 0, 0, 200));
    await loadRows(db.client, [stripped]);
    await resolve();
    expect(await attributed('v-3')).toEqual([{ person_id: 'event:landing-v-3', anonymous_id: '' }]);
    await loadRows(db.client, [identified]);
    expect((await resolve()).rewrittenBuckets).toBeGreaterThan(0);
    expect(await attributed('v-3')).toEqual([{ person_id: 'anon:v-3', anonymous_id: 'v-3' }]);
  });
});
