// The shipper against a real ClickHouse: spooled rows land in one insert per batch, the checkpoint
// follows, rows ClickHouse refuses are quarantined with its reason instead of stalling the spool, and
// the tail ships once the spool is idle.
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitUntil, type TestDatabase } from '../../test/support/clickhouse';
import { defaultShipper, type ShipperConfig } from '../config';
import { validateEvent } from '../ingest/event';
import { toEventRow, wellFormed, type EventRow } from '../ingest/normalize';
import { createMetrics, type CollectorMetrics } from '../metrics';
import { linesWriter, type LinesWriter } from '../warehouse/lines';
import { eventColumns, eventLine } from '../warehouse/row-text';
import { decodeSpoolPayload, encodeSpoolRecord, SpoolPayloadError, type SpoolPayload } from './payload';
import { refusedFileName, type RefusedRecord } from './refused-file';
import { Shipper } from './shipper';
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

/**
 * The real writer, except that the first insert after a row was set aside fails once as a dropped
 * connection would (not a refusal): the shipper retries in the middle of isolating refused rows.
 */
function droppingAfterSetAside(writer: LinesWriter): { writer: LinesWriter; dropped: () => boolean } {
  let setAside = false;
  let dropped = false;
  return {
    dropped: () => dropped,
    writer: {
      async insertLines(table, format, chunks, columns) {
        if (setAside && !dropped) {
          dropped = true;
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        }
        await writer.insertLines(table, format, chunks, columns);
        if (table === 'events_quarantine') setAside = true;
      },
    },
  };
}

/** Starts the shipper, waits until it has emptied the spool, then stops it and closes the spool. */
async function shipEverything(spool: Spool, shipper: Shipper): Promise<void> {
  shipper.start();
  await waitUntil(async () => spool.depthBytes(), (bytes) => bytes === 0);
  await shipper.stop(1000);
  await spool.close();
}

/** Appends `payloads` to a spool of its own, ships them all (through the real writer unless told), and returns the shipper's metrics. */
async function shipThrough(payloads: Array<Buffer | SpoolPayload>, config: Partial<ShipperConfig>, { segmentBytes = 1_000_000, writer = linesWriter(db.client) }: { segmentBytes?: number; writer?: LinesWriter } = {}): Promise<CollectorMetrics> {
  const spoolDir = mkdtempSync(join(tmpdir(), 'tagflow-shipper-run-'));
  try {
    const spool = await Spool.open({ dir: spoolDir, maxBytes: 10_000_000, segmentBytes });
    const metrics = createMetrics(() => spool.depthBytes());
    for (const payload of payloads) await spool.append(payload);
    await shipEverything(spool, new Shipper(spool, writer, { ...defaultShipper, ...config }, metrics, silent));
    return metrics;
  } finally {
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

describe('shipper', () => {
  it('inserts spooled rows, quarantines the rows ClickHouse refuses, and moves the checkpoint past both', async () => {
    const spool = await Spool.open({ dir, maxBytes: 10_000_000, segmentBytes: 1_000_000 });
    const metrics = createMetrics(() => spool.depthBytes());
    // Rows the ingest rules would never produce, written straight to the spool: a number that is not one
    // and a malformed DateTime, which ClickHouse refuses.
    const poisoned = [{ ...row('ship-bad-1'), timestamp_ms: Number.NaN }, { ...row('ship-bad-2'), timestamp: 'not a date' }];
    const good = Array.from({ length: 50 }, (_, i) => row(`ship-ok-${i}`));
    const records = [good.slice(0, 20), [poisoned[0] as EventRow, ...good.slice(20, 30)], [poisoned[1] as EventRow], good.slice(30)];
    for (const events of records) for (const payload of encodeSpoolRecord({ events, quarantine: [] })) await spool.append(payload);

    const client = db.client;
    await shipEverything(spool, new Shipper(spool, linesWriter(client), { ...defaultShipper, intervalMs: 20 }, metrics, silent));

    const stored = await db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id LIKE 'ship-ok-%'");
    expect(stored[0]?.n).toBe(50);
    const quarantined = await db.rows<{ reason: string; raw: string; source: string }>("SELECT reason, raw, source FROM events_quarantine WHERE raw LIKE '%ship-bad-%' ORDER BY raw");
    expect(quarantined).toHaveLength(2);
    expect(quarantined.map((q) => JSON.parse(q.raw) as { message_id: string }).map((r) => r.message_id)).toEqual(['ship-bad-1', 'ship-bad-2']);
    expect(quarantined.map((q) => q.reason)).toEqual([expect.stringMatching(/^ClickHouse refused the row: Code: \d+, .*NaN/), expect.stringMatching(/^ClickHouse refused the row: Code: \d+, /)]);
    // The refused row is kept whole, column by column.
    expect(JSON.parse(quarantined[1]?.raw ?? '{}')).toEqual({ ...Object.fromEntries(Object.entries(poisoned[1] as EventRow).map(([k, v]) => [k, String(v)])) });
    expect(quarantined.every((q) => q.source === 'shipper-test')).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString('tagflow_insert_refused_rows_total')).toContain('tagflow_insert_refused_rows_total{table="events"} 2');
  });

  it('quarantines each refused row once when the connection drops while refused rows are being isolated', async () => {
    // Good rows ahead of the first refused one, so a good half and that row are both settled before the drop.
    const good = Array.from({ length: 20 }, (_, i) => row(`drop-ok-${i}`));
    const poisoned = [{ ...row('drop-bad-1'), timestamp_ms: Number.NaN }, { ...row('drop-bad-2'), timestamp: 'not a date' }];
    const events = [...good.slice(0, 5), poisoned[0] as EventRow, ...good.slice(5, 15), poisoned[1] as EventRow, ...good.slice(15)];
    const faulty = droppingAfterSetAside(linesWriter(db.client));
    const metrics = await shipThrough(encodeSpoolRecord({ events, quarantine: [] }), { intervalMs: 20 }, { writer: faulty.writer });

    expect(faulty.dropped()).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString('tagflow_insert_failures_total')).toContain('tagflow_insert_failures_total 1');
    const stored = await db.rows<{ n: number }>("SELECT count() AS n FROM events FINAL WHERE message_id LIKE 'drop-ok-%'");
    expect(stored[0]?.n).toBe(20);
    const quarantined = await db.rows<{ raw: string }>("SELECT raw FROM events_quarantine WHERE raw LIKE '%drop-bad-%'");
    expect(quarantined.map((q) => (JSON.parse(q.raw) as { message_id: string }).message_id).sort()).toEqual(['drop-bad-1', 'drop-bad-2']);
    expect(await metrics.registry.getSingleMetricAsString('tagflow_insert_refused_rows_total')).toContain('tagflow_insert_refused_rows_total{table="events"} 2');
  });

  it('keeps a row in refused.jsonl when ClickHouse refuses its quarantine row too, and goes on shipping', async () => {
    // A database whose events_quarantine cannot take any row: raw is a number, the rows' raw is JSON text.
    const strict = await createTestDatabase('shipper_refused');
    const spoolDir = mkdtempSync(join(tmpdir(), 'tagflow-shipper-refused-'));
    try {
      await strict.client.command({ query: 'ALTER TABLE events_quarantine MODIFY COLUMN raw UInt64' });
      const good = Array.from({ length: 10 }, (_, i) => row(`file-ok-${i}`));
      const poisoned = { ...row('file-bad-1'), timestamp: 'not a date' };
      const invalid = { received_at: '2026-11-23 10:00:00', source: 'shipper-test', reason: 'invalid_event: type is required', raw: '{"event":"no type"}' };
      const spool = await Spool.open({ dir: spoolDir, maxBytes: 10_000_000, segmentBytes: 1_000_000 });
      const metrics = createMetrics(() => spool.depthBytes());
      for (const payload of encodeSpoolRecord({ events: [...good.slice(0, 5), poisoned, ...good.slice(5)], quarantine: [invalid] })) await spool.append(payload);
      await shipEverything(spool, new Shipper(spool, linesWriter(strict.client), { ...defaultShipper, intervalMs: 20 }, metrics, silent));

      const stored = await strict.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id LIKE 'file-ok-%'");
      expect(stored[0]?.n).toBe(10);
      const kept = readFileSync(join(spoolDir, refusedFileName), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RefusedRecord);
      expect(kept.map((r) => r.table)).toEqual(['events_quarantine', 'events']);
      expect(kept[0]?.row).toEqual(invalid);
      expect(kept[1]?.row).toEqual(Object.fromEntries(Object.entries(poisoned).map(([k, v]) => [k, String(v)])));
      expect(kept[1]?.reason).toMatch(/^ClickHouse refused the row: Code: \d+, .*; its quarantine row too: Code: \d+, /);
      const counted = await metrics.registry.getSingleMetricAsString('tagflow_insert_refused_to_file_total');
      expect(counted).toContain('tagflow_insert_refused_to_file_total{table="events"} 1');
      expect(counted).toContain('tagflow_insert_refused_to_file_total{table="events_quarantine"} 1');
    } finally {
      await strict.drop();
      rmSync(spoolDir, { recursive: true, force: true });
    }
  });

  it('gathers a batch larger than one spool read into a single insert', async () => {
    // 40 records of 50 rows with 1 KB of random properties each: about 2.5 MB in the spool, many of the
    // shipper's reads.
    const records = Array.from({ length: 40 }, (_, r) => Array.from({ length: 50 }, (_, i) => ({ ...row(`big-${r}-${i}`), properties: JSON.stringify({ pad: randomBytes(750).toString('base64') }) })));
    const metrics = await shipThrough(records.flatMap((events) => encodeSpoolRecord({ events, quarantine: [] })), { intervalMs: 200 }, { segmentBytes: 4_000_000 });
    const stored = await db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id LIKE 'big-%'");
    expect(stored[0]?.n).toBe(2000);
    const batches = await metrics.registry.getSingleMetricAsString('tagflow_insert_batch_rows');
    expect(batches).toMatch(/^tagflow_insert_batch_rows_count 1$/m);
  });

  it('reuses its read buffer from batch to batch without mixing up their rows', async () => {
    // 24 records of 25 rows with distinct random properties; 100 rows per batch: six batches, each read
    // into the buffer the one before it used.
    const records = Array.from({ length: 24 }, (_, r) => Array.from({ length: 25 }, (_, i) => ({ ...row(`reuse-${r}-${i}`), properties: JSON.stringify({ pad: randomBytes(200).toString('base64') }) })));
    const metrics = await shipThrough(records.flatMap((events) => encodeSpoolRecord({ events, quarantine: [] })), { maxRows: 100, intervalMs: 200 });
    const stored = await db.rows<{ message_id: string; properties: string }>("SELECT message_id, properties FROM events WHERE message_id LIKE 'reuse-%' ORDER BY message_id");
    const expected = records.flat().map(({ message_id, properties }) => ({ message_id, properties }));
    expect(stored).toEqual(expected.sort((a, b) => (a.message_id < b.message_id ? -1 : 1)));
    expect(await metrics.registry.getSingleMetricAsString('tagflow_insert_batch_rows')).toMatch(/^tagflow_insert_batch_rows_count 6$/m);
  });

  it('ships the last records once nothing new is spooled for idleMs, without waiting out intervalMs', async () => {
    // An interval far longer than the test may take: only the idle rule can ship these.
    await shipThrough(encodeSpoolRecord({ events: [row('idle-1'), row('idle-2')], quarantine: [] }), { intervalMs: 600_000, idleMs: 50 });
    const stored = await db.rows<{ n: number }>("SELECT count() AS n FROM events WHERE message_id LIKE 'idle-%'");
    expect(stored[0]?.n).toBe(2);
  });

  it('spools rows as TabSeparated text and still replays the JSONEachRow payloads of older versions, plain and deflated', async () => {
    const events = Array.from({ length: 20 }, (_, i) => row(`format-tsv-${i}`));
    const [payload] = encodeSpoolRecord({ events, quarantine: [] });
    if (!payload) throw new Error('no payload');
    const text = events.map(eventLine).join('');
    expect(decodeSpoolPayload(Buffer.concat([payload[0], Buffer.from(payload[1])]))).toEqual({ table: 'events', format: 'TabSeparated', rows: 20, columns: eventColumns.length, lines: Buffer.from(text) });
    expect(() => decodeSpoolPayload(Buffer.from([0x7a, 0, 0, 0, 1]))).toThrow(SpoolPayloadError);

    // Older versions' payloads: 'E' then the row count then JSONEachRow lines; 'e' the same deflated;
    // 'q' a deflated quarantine row.
    const legacy = (code: number, rows: object[], deflated: boolean) => {
      const lines = Buffer.from(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
      const header = Buffer.from([code, 0, 0, 0, rows.length]);
      return Buffer.concat([header, deflated ? deflateRawSync(lines) : lines]);
    };
    const plain = legacy(0x45, [row('format-plain-1'), row('format-plain-2')], false);
    // Rows spooled before a column was added (here: without the last one, context_identity) keep their column count,
    // and get the column's DEFAULT.
    const older = { ...row('format-shorter-1'), context_identity: '{"email":"dropped@example.com"}' };
    const shorter = Buffer.concat([Buffer.from([0x56, 0, 0, 0, 1, eventColumns.length - 1]), Buffer.from(eventLine(older).replace(/\t[^\t]*\n$/, '\n'))]);
    const deflated = legacy(0x65, [row('format-deflated-1')], true);
    const refused = legacy(0x71, [{ received_at: '2026-11-23 10:00:00', source: 'shipper-test', reason: 'format-test refusal', raw: '{}' }], true);
    expect(decodeSpoolPayload(deflated)).toMatchObject({ table: 'events', format: 'JSONEachRow', rows: 1 });
    await shipThrough([plain, payload, deflated, refused, shorter], { intervalMs: 50 });

    const stored = await db.rows<{ kind: string; n: number }>("SELECT splitByChar('-', message_id)[2] AS kind, count() AS n FROM events WHERE message_id LIKE 'format-%' GROUP BY kind ORDER BY kind");
    expect(stored).toEqual([{ kind: 'deflated', n: 1 }, { kind: 'plain', n: 2 }, { kind: 'shorter', n: 1 }, { kind: 'tsv', n: 20 }]);
    expect(await db.rows("SELECT context_identity FROM events WHERE message_id = 'format-shorter-1'")).toEqual([{ context_identity: '' }]);
    const quarantined = await db.rows<{ n: number }>("SELECT count() AS n FROM events_quarantine WHERE reason = 'format-test refusal'");
    expect(quarantined[0]?.n).toBe(1);
  });

  it('says a payload it cannot read was written by a newer version (not disk trouble), and keeps it and retries', async () => {
    // A code this version does not know ('z'), and a TabSeparated events payload with more columns than it knows.
    for (const payload of [Buffer.from([0x7a, 0, 0, 0, 1]), Buffer.from([0x56, 0, 0, 0, 1, eventColumns.length + 1])]) {
      const spoolDir = mkdtempSync(join(tmpdir(), 'tagflow-shipper-newer-'));
      try {
        const spool = await Spool.open({ dir: spoolDir, maxBytes: 10_000_000, segmentBytes: 1_000_000 });
        await spool.append(payload);
        const depth = spool.depthBytes();
        const errors: { err?: unknown; message: string }[] = [];
        const log = { warn: () => undefined, error: (object: { err?: unknown }, message: string) => void errors.push({ ...object, message }) };
        const shipper = new Shipper(spool, linesWriter(db.client), { ...defaultShipper, idleMs: 10, maxBackoffMs: 20 }, createMetrics(() => spool.depthBytes()), log);
        shipper.start();
        // Two attempts: it retries rather than giving up or skipping the record.
        await waitUntil(async () => errors.length, (n) => n >= 2);
        await shipper.stop(0);
        const [first] = errors;
        expect(first?.message).toMatch(/^the spool holds a record written by a newer Tagflow version/);
        expect(first?.message).toMatch(/upgrade to it again, or drain the spool with it before downgrading.*retrying$/);
        expect(first?.err).toBeInstanceOf(SpoolPayloadError);
        expect(spool.depthBytes()).toBe(depth);
        await spool.close();
      } finally {
        rmSync(spoolDir, { recursive: true, force: true });
      }
    }
  });

  it('stores text with tabs, newlines, backslashes and lone surrogates intact through the TabSeparated spool', async () => {
    const name = 'tab\there, line\nbreak, back\\slash \\t, cr\r, nul\0, emoji \ud83d\ude00, half \ud83d';
    const parsed = validateEvent({ type: 'track', event: name, anonymousId: 'a', messageId: 'text-1', properties: { note: name } });
    if (!parsed.ok) throw new Error(parsed.reason);
    const event = toEventRow(parsed.event, { source: 'shipper-test', receivedAt: Date.now(), sentAt: undefined, ip: '', userAgent: '' });
    await shipThrough(encodeSpoolRecord({ events: [event], quarantine: [] }), { intervalMs: 50 });
    const [stored] = await db.rows<{ event: string; properties: string }>("SELECT event, properties FROM events WHERE message_id = 'text-1'");
    expect(stored?.event).toBe(name.replace('half \ud83d', 'half \ufffd'));
    expect(JSON.parse(stored?.properties ?? '{}')).toEqual({ note: name });
  });

  it('ships the consent refusals of a request with its events, through a ClickHouse outage', async () => {
    const refusal = { id_hash: 'f'.repeat(64), id_kind: 'user' as const, refused_on: '2026-11-23' };
    const payloads = encodeSpoolRecord({ events: [row('refusal-event-1')], quarantine: [], refusals: [refusal] });
    expect(payloads.map(([header]) => header.readUInt8(0))).toEqual([0x58, 0x56]);
    // The first insert fails as a dropped connection would: the refusal stays in the spool and goes in on the retry.
    const real = linesWriter(db.client);
    let failed = false;
    const writer: LinesWriter = {
      async insertLines(table, format, chunks, columns) {
        if (!failed) {
          failed = true;
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        }
        await real.insertLines(table, format, chunks, columns);
      },
    };
    await shipThrough(payloads, { intervalMs: 20 }, { writer });
    expect(await db.rows('SELECT id_hash, id_kind, refused_on FROM consent_refusals')).toEqual([refusal]);
    expect(await db.rows("SELECT message_id FROM events WHERE message_id = 'refusal-event-1'")).toHaveLength(1);
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
