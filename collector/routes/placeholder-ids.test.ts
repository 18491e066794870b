// Placeholder ids through a real collector into ClickHouse and the identity job: a broken `identify(String(user.id))`
// ("undefined") on many devices, a mobile app's zero UUID, a QA value of the config's blockedIds: no person is made of
// them, no event is lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personsOf, waitUntil } from '../../test/support/clickhouse';
import { sendBatch, startTestCollector, type TestCollector } from '../../test/support/collector';
import { sha256 } from '../warehouse/identity/identifiers';
import { runIdentityJob } from '../warehouse/identity/job';

let collector: TestCollector;
beforeAll(async () => {
  collector = await startTestCollector({}, { blockedIds: ['abc123', 'test@example.com'], publicMetrics: true });
});
afterAll(() => collector?.close());

const zeroUuid = '00000000-0000-0000-0000-000000000000';
const basic = `Basic ${Buffer.from('test-write-key:').toString('base64')}`;
const send = (batch: Record<string, unknown>[]) =>
  fetch(`${collector.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic }, body: JSON.stringify({ batch }) });

interface StoredRow {
  message_id: string;
  user_id: string;
  anonymous_id: string;
  sent: string;
}

/** The stored rows of these messages, with what context.blockedIds says was sent, once all of them have arrived. */
const stored = (messageIds: string[]) =>
  waitUntil(
    () =>
      collector.db.rows<StoredRow>(
        `SELECT message_id, user_id, anonymous_id, visitParamExtractRaw(context, 'blockedIds') AS sent FROM events
         WHERE message_id IN (${messageIds.map((id) => `'${id}'`).join(', ')}) ORDER BY message_id`,
      ),
    (rows) => rows.length === messageIds.length,
  );

const personOf = (identifier: string) => personsOf(collector.db, identifier);
const email = (text: string) => `email:${sha256(text)}`;

describe('placeholder ids through the collector', () => {
  it('two devices identifying with userId "undefined" stay two persons, each with its own e-mail', async () => {
    const response = await send([
      { type: 'identify', messageId: 'ph-ann', userId: 'undefined', anonymousId: 'ph-device-ann', traits: { email: 'ann@example.com' } },
      { type: 'identify', messageId: 'ph-bo', userId: 'Undefined', anonymousId: 'ph-device-bo', traits: { email: 'bo@example.com' } },
    ]);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 2, rejected: [] });
    expect(await stored(['ph-ann', 'ph-bo'])).toEqual([
      { message_id: 'ph-ann', user_id: '', anonymous_id: 'ph-device-ann', sent: '{"userId":"undefined"}' },
      { message_id: 'ph-bo', user_id: '', anonymous_id: 'ph-device-bo', sent: '{"userId":"Undefined"}' },
    ]);
    await runIdentityJob(collector.db.client, { blockedIds: collector.config.blockedIds });
    const ann = await personOf('anon:ph-device-ann');
    const bo = await personOf('anon:ph-device-bo');
    expect(ann).toHaveLength(1);
    expect(bo).toHaveLength(1);
    expect(ann).not.toEqual(bo);
    expect(await personOf(email('ann@example.com'))).toEqual(ann);
    expect(await personOf(email('bo@example.com'))).toEqual(bo);
    expect(await personOf('user:undefined')).toEqual([]);
  });

  it('keeps the userId of an event whose anonymousId is the zero UUID, and quarantines one with only a placeholder', async () => {
    const response = await send([
      { type: 'track', event: 'Order Completed', messageId: 'ph-zero', userId: 'cara', anonymousId: zeroUuid },
      { type: 'track', event: 'Order Completed', messageId: 'ph-only', anonymousId: zeroUuid, properties: { order_id: 'o-1' } },
    ]);
    const reason = `anonymousId "${zeroUuid}" is a placeholder, not an id; anonymousId or userId is required`;
    expect(await response.json()).toEqual({ accepted: 1, rejected: [{ index: 1, reason }] });
    expect(await stored(['ph-zero'])).toEqual([{ message_id: 'ph-zero', user_id: 'cara', anonymous_id: '', sent: `{"anonymousId":"${zeroUuid}"}` }]);
    const quarantined = await waitUntil(
      () => collector.db.rows<{ reason: string; raw: string }>("SELECT reason, raw FROM events_quarantine WHERE raw LIKE '%ph-only%'"),
      (rows) => rows.length > 0,
    );
    expect(quarantined.map((row) => row.reason)).toEqual([reason]);
    expect(JSON.parse(quarantined[0]?.raw ?? '{}')).toMatchObject({ messageId: 'ph-only', anonymousId: zeroUuid, properties: { order_id: 'o-1' } });
    expect(await collector.db.rows("SELECT message_id FROM events WHERE message_id = 'ph-only'")).toEqual([]);
  });

  it("treats the config's blockedIds like the built-in placeholders: an id, and an e-mail of traits and context.traits", async () => {
    const response = await send([
      { type: 'identify', messageId: 'ph-qa-1', userId: 'ABC123', anonymousId: 'ph-qa-device-1', traits: { email: 'Test@Example.com' } },
      { type: 'identify', messageId: 'ph-qa-2', userId: 'abc123', anonymousId: 'ph-qa-device-2', traits: { email: 'test@example.com' } },
      { type: 'track', event: 'E', messageId: 'ph-qa-3', userId: 'dee', anonymousId: 'ph-qa-device-3', context: { traits: { email: 'test@example.com' } } },
      { type: 'identify', messageId: 'ph-qa-4', userId: 'abc123' },
    ]);
    expect(await response.json()).toEqual({
      accepted: 3,
      rejected: [{ index: 3, reason: 'userId "abc123" is a placeholder, not an id; anonymousId or userId is required' }],
    });
    const rows = await stored(['ph-qa-1', 'ph-qa-2', 'ph-qa-3']);
    expect(rows.map((row) => [row.user_id, row.sent])).toEqual([
      ['', '{"userId":"ABC123"}'],
      ['', '{"userId":"abc123"}'],
      ['dee', ''],
    ]);
    expect(await collector.db.rows("SELECT context_identity FROM events WHERE message_id = 'ph-qa-3'")).toEqual([{ context_identity: '' }]);
    await runIdentityJob(collector.db.client, { blockedIds: collector.config.blockedIds });
    const first = await personOf('anon:ph-qa-device-1');
    const second = await personOf('anon:ph-qa-device-2');
    expect(first).toHaveLength(1);
    expect(second).toHaveLength(1);
    expect(first).not.toEqual(second);
    expect(await personOf(email('test@example.com'))).toEqual([]);
    expect(await personOf('user:abc123')).toEqual([]);
  });

  it("stores as context.blockedIds only what the collector took, read by visitParamExtractRaw whatever the client's context holds", async () => {
    const response = await send([
      // visitParamExtractRaw reads the first "blockedIds" key at any depth: the collector's comes first.
      { type: 'track', event: 'E', messageId: 'ph-nested', userId: 'null', anonymousId: 'ph-nested-device', context: { page: { blockedIds: 'not-ours' } } },
      { type: 'track', event: 'E', messageId: 'ph-forged', userId: 'eve', context: { blockedIds: { userId: 'forged' } } },
    ]);
    expect(await response.json()).toEqual({ accepted: 2, rejected: [] });
    expect((await stored(['ph-forged', 'ph-nested'])).map((row) => [row.message_id, row.sent])).toEqual([
      ['ph-forged', ''],
      ['ph-nested', '{"userId":"null"}'],
    ]);
  });

  it('counts the events stored without a placeholder id, per source', async () => {
    const metrics = await (await fetch(`${collector.url}/metrics`)).text();
    // 2 "undefined" + 1 zero UUID + 2 "abc123" + 1 "null" of the tests above.
    expect(metrics).toContain('tagflow_events_blocked_ids_total{source="test-source"} 6');
  });
});

describe("the collector's scheduled identity job", () => {
  let scheduled: TestCollector | undefined;
  afterAll(() => scheduled?.close());

  it("makes no node of the config's blocked e-mail: a device that gave only that address stays apart from the user who gave it", async () => {
    scheduled = await startTestCollector(
      {},
      { blockedIds: ['qa@example.com'], warehouseJobs: { identityIntervalSeconds: 0.2, segmentIntervalSeconds: 0, identityOverlapSeconds: 86_400 } },
    );
    const response = await sendBatch(scheduled, [
      { type: 'identify', messageId: 'sched-device', anonymousId: 'sched-device-1', traits: { email: 'QA@example.com' } },
      { type: 'identify', messageId: 'sched-user', userId: 'sched-user', anonymousId: 'sched-device-2', traits: { email: 'qa@example.com' } },
    ]);
    expect(await response.json()).toEqual({ accepted: 2, rejected: [] });
    const db = scheduled.db;
    // Both identifiers resolved by the collector's own timer, not by a call of the test.
    const [device, user] = await waitUntil(
      () => Promise.all([personsOf(db, 'anon:sched-device-1'), personsOf(db, 'user:sched-user')]),
      (persons) => persons.every((person) => person.length === 1),
    );
    expect(device).not.toEqual(user);
    expect(await personsOf(db, 'anon:sched-device-2')).toEqual(user);
    expect(await personsOf(db, email('qa@example.com'))).toEqual([]);
  });
});
