// identity_edges written before a value was a placeholder (by a collector before the rule, or before the value was
// added to blockedIds) must not keep merging the persons who sent it: the job does not follow such an edge.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, personsOf, type TestDatabase } from '../../../test/support/clickhouse';
import { eventRow } from '../../../test/support/events';
import { insertRows } from '../client';
import { toDateTimeText } from '../../ingest/normalize';
import { loadRows } from '../generator/load';
import { sha256 } from './identifiers';
import { runIdentityJob } from './job';

const T = Date.UTC(2026, 5, 15, 12);
const minute = 60_000;
// Events are received at their event times, in the past: every run looks back over all of them.
const overlapSeconds = 10 * 365 * 86_400;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('placeholder_edges');
}, 60_000);
afterAll(() => db.drop());

const personOf = (identifier: string) => personsOf(db, identifier);

const identify = (messageId: string, at: number, ids: { userId?: string; anonymousId: string }, traits: Record<string, unknown>) =>
  eventRow({ type: 'identify', messageId, ...ids, traits }, at);

describe('identity edges of a value that became a placeholder', () => {
  it('no longer merge a device with the person whose e-mail it gave once blockedIds lists the e-mail', async () => {
    // QA's test e-mail: a real account uses it, and a shop kiosk's newsletter form sent it before anyone listed it.
    const email = `email:${sha256('test@example.com')}`;
    await loadRows(db.client, [
      identify('ann-1', T - 20 * minute, { userId: 'ann', anonymousId: 'ann-phone' }, { email: 'test@example.com' }),
      identify('kiosk-1', T - 10 * minute, { anonymousId: 'shop-kiosk' }, { email: 'Test@Example.com' }),
    ]);
    await runIdentityJob(db.client, { overlapSeconds });
    expect(await personOf('anon:shop-kiosk')).toEqual(['user:ann']);

    // The operator lists it; the kiosk identifies again.
    await loadRows(db.client, [identify('kiosk-2', T - 5 * minute, { anonymousId: 'shop-kiosk' }, { name: 'Visitor' })]);
    await runIdentityJob(db.client, { overlapSeconds, blockedIds: ['test@example.com'] });
    expect(await personOf('anon:shop-kiosk')).toEqual(['anon:shop-kiosk']);
    // The e-mail's node is no one's any more: an export of ann's person no longer carries it.
    expect(await personOf(email)).toEqual([email]);
  });

  it('no longer merge through a built-in placeholder or a blocked phone (any of its nodes), written by an older collector', async () => {
    // What a collector before the rule wrote for `identify("undefined")` on two devices, and for a phone QA used.
    const at = toDateTimeText(T - 60 * minute);
    const edge = (message_id: string, node: string) => ({ message_id, node, timestamp: at, received_at: at });
    await insertRows(db.client, 'identity_edges', [
      edge('old-cy', 'user:undefined'),
      edge('old-cy', 'anon:cy-tablet'),
      edge('old-dee', 'user:undefined'),
      edge('old-dee', 'anon:dee-tablet'),
      edge('old-dee', 'previous:user:0'),
      // eve's phone, given by two devices' forms: one holds its E.164 node, the other its digits node.
      edge('old-eve', 'user:eve'),
      edge('old-eve', 'anon:eve-phone'),
      edge('old-eve', `phone:${sha256('+79990000000')}`),
      edge('old-eve', `phone_digits:${sha256('79990000000')}`),
      edge('old-form-1', 'anon:form-1'),
      edge('old-form-1', `phone_digits:${sha256('79990000000')}`),
      edge('old-form-2', 'anon:form-2'),
      edge('old-form-2', `phone:${sha256('+79990000000')}`),
    ]);
    await loadRows(db.client, [
      identify('cy-1', T - 4 * minute, { userId: 'cy', anonymousId: 'cy-tablet' }, {}),
      identify('dee-1', T - 3 * minute, { userId: 'dee', anonymousId: 'dee-tablet' }, {}),
      identify('eve-1', T - 2 * minute, { userId: 'eve', anonymousId: 'eve-phone' }, {}),
      identify('form-1', T - 1 * minute, { anonymousId: 'form-1' }, { name: 'F1' }),
      identify('form-2', T - 1 * minute, { anonymousId: 'form-2' }, { name: 'F2' }),
    ]);
    // The phone listed as people write it.
    await runIdentityJob(db.client, { overlapSeconds, blockedIds: ['test@example.com', '+7 (999) 000-00-00'] });
    expect(await personOf('anon:cy-tablet')).toEqual(['user:cy']);
    expect(await personOf('anon:dee-tablet')).toEqual(['user:dee']);
    expect(await personOf('anon:form-1')).toEqual(['anon:form-1']);
    expect(await personOf('anon:form-2')).toEqual(['anon:form-2']);
    expect(await personOf('anon:eve-phone')).toEqual(['user:eve']);
    // Events stored with userId "undefined" belong to that id's own person, not to a customer it had merged.
    expect(await personOf('user:undefined')).toEqual(['user:undefined']);
  });
});
