// The shipper against a real ClickHouse: spooled rows land in one insert per batch, the checkpoint
// follows, rows ClickHouse refuses are quarantined with its reason instead of stalling the spool, and
// the tail ships once the spool is idle.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitUntil, type TestDatabase } from '../../test/support/clickhouse';
import { defaultShipper } from '../config';
import { validateEvent } from '../ingest/event';
import { toEventRow, wellFormed, type EventRow } from '../ingest/normalize';
import { createMetrics } from '../metrics';
import { jsonLinesWriter } from '../warehouse/lines';
import { decodeSpoolPayload, encodeSpoolRecord, Shipper, SpoolPayloadError } from './shipper';
import { Spool } from './spool';

let db: TestDatabase;
let dir: string;
beforeAll(async () => {
  db = await createTestDatabase('shipper');
  dir = mkdtempSync(join(tmpdir(), 'tagflow-shipper-'));
});
afterAll(async () => {
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

function row(messageId: string): EventRow {
  const parsed = validateEvent({ type: 'track', event: 'Shipped', anonymousId: 'a', messageId });
  if (!parsed.ok) throw new Error(parsed.reason);
  return toEventRow(parsed.event, { source: 'shipper-test', receivedAt: Date.now(), sentAt: undefined, ip: '', userAgent: '' });
}

const silent = { warn: () => undefined, error: () => undefined };

/** Starts the shipper, waits until it has emptied the spool, then stops it and closes the spool. */
async function shipEverything(spool: Spool, shipper: Shipper): Promise<void> {
  shipper.start();
  await waitUntil(async () => spool.depthBytes(), (bytes) => bytes === 0);
  await shipper.stop(1000);
  await spool.close();
}

describe('shipper', () => {
  it('inserts spooled rows, quarantines the rows ClickHouse refuses, and moves the checkpoint past both', async () => {
    const spool = await Spool.open({ dir, maxBytes: 10_000_000, segmentBytes: 1_000_000 });
    const metrics = createMetrics(() => spool.depthBytes());
    // Rows the ingest rules would never produce, written straight to the spool: a lone surrogate and a
    // malformed DateTime, which ClickHouse refuses with codes 25 and 41.
    const poisoned = [{ ...row('ship-bad-1'), event: 'half an emoji \ud83d' }, { ...row('ship-bad-2'), timestamp: 'not a date' }];
    const good = Array.from({ length: 50 }, (_, i) => row(`ship-ok-${i}`));
    const records = [good.slice(0, 20), [poisoned[0] as EventRow, ...good.slice(20, 30)], [poisoned[1] as EventRow], good.slice(30)];
    for (const events of records) for (const payload of encodeSpoolRecord({ events, quarantine: [] })) await spool.append(payload);

    const client = db.client;
    await shipEverything(spool, new Shipper(spool, jsonLinesWriter(client), { ...defaultShipper, intervalMs: 20 }, metrics, silent));

    const stored = await db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id LIKE 'ship-ok-%'");
    expect(stored[0]?.n).toBe(50);
    const quarantined = await db.rows<{ reason: string; raw: string; source: string }>('SELECT reason, raw, source FROM events_quarantine ORDER BY raw');
    expect(quarantined).toHaveLength(2);
    expect(quarantined.map((q) => JSON.parse(q.raw) as { message_id: string }).map((r) => r.message_id)).toEqual(['ship-bad-1', 'ship-bad-2']);
    expect(quarantined.map((q) => q.reason)).toEqual([expect.stringMatching(/^ClickHouse refused the row: Code: 25/), expect.stringMatching(/^ClickHouse refused the row: Code: \d+, .*timestamp/)]);
    expect(quarantined.every((q) => q.source === 'shipper-test')).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString('tagflow_insert_refused_rows_total')).toContain('tagflow_insert_refused_rows_total{table="events"} 2');
  });

  it('gathers a batch larger than one spool read into a single insert', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'tagflow-shipper-big-'));
    const spool = await Spool.open({ dir: spoolDir, maxBytes: 10_000_000, segmentBytes: 4_000_000 });
    const metrics = createMetrics(() => spool.depthBytes());
    // 40 records of 50 rows with 1 KB of random properties each (deflate cannot shrink it much): about
    // 1.5 MB in the spool, many of the shipper's reads.
    for (let r = 0; r < 40; r++) {
      const events = Array.from({ length: 50 }, (_, i) => ({ ...row(`big-${r}-${i}`), properties: JSON.stringify({ pad: randomBytes(750).toString('base64') }) }));
      for (const payload of encodeSpoolRecord({ events, quarantine: [] })) await spool.append(payload);
    }
    await shipEverything(spool, new Shipper(spool, jsonLinesWriter(db.client), { ...defaultShipper, intervalMs: 200 }, metrics, silent));
    rmSync(spoolDir, { recursive: true, force: true });
    const stored = await db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id LIKE 'big-%'");
    expect(stored[0]?.n).toBe(2000);
    const batches = await metrics.registry.getSingleMetricAsString('tagflow_insert_batch_rows');
    expect(batches).toMatch(/^tagflow_insert_batch_rows_count 1$/m);
  });

  it('ships the last records once nothing new is spooled for idleMs, without waiting out intervalMs', async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), 'tagflow-shipper-idle-'));
    const spool = await Spool.open({ dir: spoolDir, maxBytes: 10_000_000, segmentBytes: 1_000_000 });
    const metrics = createMetrics(() => spool.depthBytes());
    // An interval far longer than the test may take: only the idle rule can ship these.
    for (const payload of encodeSpoolRecord({ events: [row('idle-1'), row('idle-2')], quarantine: [] })) await spool.append(payload);
    await shipEverything(spool, new Shipper(spool, jsonLinesWriter(db.client), { ...defaultShipper, intervalMs: 600_000, idleMs: 50 }, metrics, silent));
    rmSync(spoolDir, { recursive: true, force: true });
    const stored = await db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id LIKE 'idle-%'");
    expect(stored[0]?.n).toBe(2);
  });

  it('spools rows deflated and still reads the plain payloads of older versions', () => {
    const events = Array.from({ length: 20 }, (_, i) => row(`deflate-${i}`));
    const lines = events.map((r) => `${JSON.stringify(r)}\n`).join('');
    const [payload] = encodeSpoolRecord({ events, quarantine: [] });
    if (!payload) throw new Error('no payload');
    expect(payload.length).toBeLessThan(Buffer.byteLength(lines) / 5);
    expect(decodeSpoolPayload(payload)).toEqual({ table: 'events', rows: 20, lines: Buffer.from(lines) });
    // An older version's payload: 'E', the row count, the lines as they are.
    const plain = Buffer.concat([Buffer.from([0x45, 0, 0, 0, 20]), Buffer.from(lines)]);
    expect(decodeSpoolPayload(plain)).toEqual({ table: 'events', rows: 20, lines: Buffer.from(lines) });
    expect(() => decodeSpoolPayload(Buffer.from([0x7a, 0, 0, 0, 1]))).toThrow(SpoolPayloadError);
  });

  it('never lets the ingest path produce a lone surrogate', () => {
    expect(wellFormed('ok \ud83d\ude00')).toBe('ok \ud83d\ude00');
    expect(wellFormed('cut \ud83d')).toBe('cut \ufffd');
    expect(wellFormed('\ude00 first')).toBe('\ufffd first');
    const parsed = validateEvent({ type: 'track', event: 'E \ud83d', anonymousId: 'a', properties: { title: 'x \ud83d' } });
    if (!parsed.ok) throw new Error(parsed.reason);
    const stored = toEventRow(parsed.event, { source: 's', receivedAt: Date.now(), sentAt: undefined, ip: '', userAgent: '' });
    expect(stored.event).toBe('E \ufffd');
    expect(stored.page_title).toBe('x \ufffd');
  });
});
