// The spool on a real file system: appends survive a reopen, the checkpoint decides what replays,
// torn and corrupt records are set aside while the rest replays, and the byte cap refuses appends.
import { constants, mkdirSync, mkdtempSync, rmdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../../test/support/clickhouse';
import { Spool, SpoolFullError, SpoolLockedError, type CorruptReport, type Position } from './spool';

const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tagflow-spool-test-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const payload = (i: number) => Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(100) }));

/** Reads everything from `from` to the end, as the shipper would. */
async function readAll(spool: Spool, from: Position): Promise<{ values: number[]; end: Position }> {
  const values: number[] = [];
  let position = from;
  for (;;) {
    const read = await spool.read(position, 1000);
    values.push(...read.payloads.map((p) => (JSON.parse(p.toString()) as { i: number }).i));
    if (read.next.segment === position.segment && read.next.offset === position.offset) return { values, end: position };
    position = read.next;
  }
}

const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();

/** Bytes of data in a segment file: segments are zero-filled ahead, and every record ends with a non-zero byte. */
function dataLength(bytes: Buffer): number {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end -= 1;
  return end;
}

describe('spool', () => {
  it('keeps appends across segments and a reopen, and replays only what is after the checkpoint', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 1000 });
    for (let i = 0; i < 30; i++) await spool.append(payload(i));
    const first = await readAll(spool, spool.checkpoint);
    expect(first.values).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(segments(dir).length).toBeGreaterThan(2);

    // Confirm the first half, as the shipper does after ClickHouse answered.
    let half = spool.checkpoint;
    for (let n = 0; n < 15; ) {
      const read = await spool.read(half, 1);
      n += read.payloads.length;
      half = read.next;
    }
    await spool.commit(half);
    await spool.close();

    const reopened = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 1000 });
    expect(reopened.checkpoint).toEqual(half);
    expect((await readAll(reopened, reopened.checkpoint)).values).toEqual(Array.from({ length: 15 }, (_, i) => i + 15));
    await reopened.close();
  });

  it('reads records into a buffer the caller keeps when they fit, and into a new one when they do not', async () => {
    const spool = await Spool.open({ dir: freshDir(), maxBytes: 1_000_000, segmentBytes: 1_000_000 });
    for (let i = 0; i < 5; i++) await spool.append(payload(i));
    const kept = Buffer.alloc(4096);
    const fits = await spool.read(spool.checkpoint, 4096, kept);
    expect(fits.payloads.map((p) => (JSON.parse(p.toString()) as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
    expect(fits.payloads.every((p) => p.buffer === kept.buffer)).toBe(true);

    const small = kept.subarray(0, 16);
    const apart = await spool.read(spool.checkpoint, 4096, small);
    expect(apart.payloads.map((p) => (JSON.parse(p.toString()) as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
    expect(apart.payloads.some((p) => p.buffer === kept.buffer)).toBe(false);
    await spool.close();
  });

  it('deletes segments the checkpoint has passed and counts only unshipped bytes', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 500 });
    for (let i = 0; i < 20; i++) await spool.append(payload(i));
    const before = segments(dir).length;
    expect(spool.depthBytes()).toBe(segments(dir).reduce((sum, f) => sum + dataLength(readFileSync(join(dir, f))), 0));
    const { end } = await readAll(spool, spool.checkpoint);
    await spool.commit(end);
    expect(spool.depthBytes()).toBe(0);
    expect(segments(dir).length).toBeLessThan(before);
    await spool.close();
  });

  it('sets a torn last record aside, reports it, and replays every intact record', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 1_000_000 });
    for (let i = 0; i < 5; i++) await spool.append(payload(i));
    await spool.close();
    const [file] = segments(dir);
    const path = join(dir, file as string);
    const bytes = readFileSync(path);
    bytes.fill(0, dataLength(bytes) - 7, dataLength(bytes)); // a crash in the middle of the last write
    writeFileSync(path, bytes);

    const reports: CorruptReport[] = [];
    const reopened = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 1_000_000, onCorrupt: (r) => reports.push(r) });
    expect((await readAll(reopened, reopened.checkpoint)).values).toEqual([0, 1, 2, 3]);
    expect(reports).toHaveLength(1);
    expect(readFileSync(reports[0]?.file as string).length).toBe(reports[0]?.bytes);
    // The torn record's surviving bytes, not the zeros after them.
    expect(reports[0]?.bytes).toBeLessThan(200);
    await reopened.close();
  });

  it('skips a corrupt record in the middle by its checksum and replays the records after it', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 1_000_000 });
    for (let i = 0; i < 5; i++) await spool.append(payload(i));
    await spool.close();
    const path = join(dir, segments(dir)[0] as string);
    const bytes = readFileSync(path);
    const recordBytes = dataLength(bytes) / 5;
    const inRecord2 = Math.floor(recordBytes * 2 + recordBytes / 2);
    bytes.writeUInt8(bytes.readUInt8(inRecord2) ^ 0xff, inRecord2); // flip the bits of a byte inside record 2's payload
    writeFileSync(path, bytes);

    const reports: CorruptReport[] = [];
    const reopened = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 1_000_000, onCorrupt: (r) => reports.push(r) });
    expect((await readAll(reopened, reopened.checkpoint)).values).toEqual([0, 1, 3, 4]);
    expect(reports.map((r) => r.bytes)).toEqual([recordBytes]);
    expect(readdirSync(join(dir, 'corrupt'))).toHaveLength(1);
    await reopened.close();
  });

  it('refuses appends past its byte cap until the shipper confirms', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 1000, segmentBytes: 100_000 });
    let accepted = 0;
    let error: unknown;
    for (;;) {
      try {
        await spool.append(payload(accepted));
        accepted += 1;
      } catch (e) {
        error = e;
        break;
      }
    }
    expect(error).toBeInstanceOf(SpoolFullError);
    expect(spool.depthBytes()).toBeLessThanOrEqual(1000);
    const { end, values } = await readAll(spool, spool.checkpoint);
    expect(values).toHaveLength(accepted);
    await spool.commit(end);
    await expect(spool.append(payload(99))).resolves.toBeUndefined();
    await spool.close();
  });
});

describe('spool records', () => {
  it('survive a reopen whatever their bytes, trailing zeros included', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 100_000 });
    // The last one ends in zeros, like the zero-filled rest of its segment.
    const payloads = [Buffer.from('start'), Buffer.from([1, 2, 0, 0]), Buffer.alloc(10)];
    for (const payload of payloads) await spool.append(payload);
    await spool.close();
    const reopened = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 100_000 });
    // Read to the end: the spool may have moved to its zero-filled next segment between appends (it
    // leaves the start-up segment early), so the payloads can span two segments.
    const read: Buffer[] = [];
    for (let position = reopened.checkpoint; ; ) {
      const { payloads: found, next } = await reopened.read(position, 1_000_000);
      read.push(...found);
      if (next.segment === position.segment && next.offset === position.offset) break;
      position = next;
    }
    expect(read).toEqual(payloads);
    await reopened.close();
  });
});

describe('spool lock', () => {
  it('refuses a second open while the first is open, and takes over a lock whose process is gone', async () => {
    const dir = freshDir();
    const first = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 100_000 });
    // Another live process holds it (the lock names this test's parent process).
    writeFileSync(join(dir, 'lock'), String(process.ppid));
    await expect(Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 100_000 })).rejects.toBeInstanceOf(SpoolLockedError);
    await first.close();
    writeFileSync(join(dir, 'lock'), '999999999'); // a process that does not exist (left by kill -9)
    const second = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 100_000 });
    expect(readFileSync(join(dir, 'lock'), 'utf8')).toBe(String(process.pid));
    await second.close();
  });
});

describe('spool close', () => {
  it('leaves only the checkpoint behind once everything is shipped, and reopens from it', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 100_000 });
    await spool.append(payload(1));
    const { end } = await readAll(spool, spool.checkpoint);
    await spool.commit(end);
    await spool.close();
    expect(readdirSync(dir).sort()).toEqual(['checkpoint.json', 'corrupt']);
    const reopened = await Spool.open({ dir, maxBytes: 1_000_000, segmentBytes: 100_000 });
    expect(reopened.depthBytes()).toBe(0);
    await reopened.append(payload(2));
    expect((await readAll(reopened, reopened.checkpoint)).values).toEqual([2]);
    await reopened.close();
  });
});

describe('durable appends', () => {
  /** The open flags of this process's descriptors on `file` (Linux's /proc/self/fdinfo), one per descriptor. */
  function openFlags(file: string): number[] {
    return readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        if (readlinkSync(`/proc/self/fd/${fd}`) !== file) return [];
        return [parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8)];
      } catch {
        return []; // closed meanwhile
      }
    });
  }

  it.runIf(process.platform === 'linux')('writes segments through O_DSYNC, before and after a roll, so an acknowledged append is on disk', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 4096 });
    for (let i = 0; i < 60; i++) await spool.append(payload(i)); // rolls past the first 4 KB segment
    const files = segments(dir);
    expect(files.length).toBeGreaterThan(2);
    // The active segment and the next one, created ahead of the roll.
    for (const file of files.slice(-2)) {
      const flags = openFlags(join(dir, file));
      expect(flags).toHaveLength(1);
      expect((flags[0] as number) & constants.O_DSYNC).toBe(constants.O_DSYNC);
    }
    await spool.close();
  });

  it('keeps an acknowledged append when the roll after it fails, and replays it after a restart', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 4096 });
    // A directory where segment 3 would go: preparing it fails, and so does the roll after segment 2.
    mkdirSync(join(dir, '000000000003.seg'));
    await spool.append(Buffer.alloc(5000, 0x41)); // fills segment 1; rolls to segment 2
    await spool.append(Buffer.alloc(5000, 0x42)); // fills segment 2, acknowledged; its roll fails
    expect(spool.depthBytes()).toBe(2 * (5000 + 13));
    const first = await spool.read(spool.checkpoint, 6000);
    await spool.commit(first.next);
    expect(spool.depthBytes()).toBe(5013);
    rmdirSync(join(dir, '000000000003.seg'));
    await spool.close();
    const reopened = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 4096 });
    const replayed = await reopened.read(reopened.checkpoint, 1 << 20);
    expect(replayed.payloads.map((p) => p[0])).toEqual([0x42]);
    await reopened.close();
  });

  it('creates the next segment ahead, zero-filled, so a roll only switches files, and removes it unused at close', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 4096 });
    await spool.append(payload(0));
    await waitUntil(async () => segments(dir).length, (n) => n === 2);
    const [active, next] = segments(dir);
    await waitUntil(async () => readFileSync(join(dir, next as string)), (bytes) => bytes.equals(Buffer.alloc(4096)));
    for (let i = 1; i < 60; i++) await spool.append(payload(i));
    // The prepared file became the active one: the appends after the roll are in it, and another waits.
    const files = segments(dir);
    expect(files.indexOf(next as string)).toBeGreaterThan(files.indexOf(active as string));
    expect(dataLength(readFileSync(join(dir, next as string)))).toBeGreaterThan(0);
    // Once prepared, the newest file is one of nothing but zeros after them all.
    await waitUntil(async () => readFileSync(join(dir, segments(dir).at(-1) as string)), (bytes) => bytes.equals(Buffer.alloc(4096)));
    const before = segments(dir);
    await spool.close();
    expect(segments(dir)).toEqual(before.slice(0, -1));
    const reopened = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 4096 });
    expect((await readAll(reopened, { segment: 1, offset: 0 })).values).toEqual(Array.from({ length: 60 }, (_, i) => i));
    await reopened.close();
  });

  it('moves from the segment made at start-up (appended to) to the next one as soon as that is all zeros, and stays there', async () => {
    const dir = freshDir();
    const bytes = 64 * 1024;
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: bytes });
    const record = (i: number) => readFileSync(join(dir, segments(dir)[i] as string));
    await spool.append(payload(0));
    // The spool's own view, not only the file's: the zeros can be on disk before the spool has seen its write return.
    await waitUntil(async () => spool.nextReady && segments(dir).length === 2 && record(1).equals(Buffer.alloc(bytes)), (ready) => ready);
    await spool.append(payload(1));
    // The first segment keeps only record 0; record 1 went into the zeroed one.
    const first = dataLength(record(0));
    expect(first).toBeGreaterThan(0);
    expect(dataLength(record(1))).toBeGreaterThan(0);
    // The zeroed segment is written over to its end: a third one, once all zeros too, is not rolled to early.
    await waitUntil(async () => spool.nextReady && segments(dir).length === 3 && record(2).equals(Buffer.alloc(bytes)), (ready) => ready);
    await spool.append(payload(2));
    expect(dataLength(record(0))).toBe(first);
    expect(record(2).equals(Buffer.alloc(bytes))).toBe(true);
    expect((await readAll(spool, spool.checkpoint)).values).toEqual([0, 1, 2]);
    await spool.close();
  });

  it('rolls onto a segment whose zero-filling has not finished without zeros landing on its records', async () => {
    const dir = freshDir();
    // 4 MB segments take the filler well over a hundred ms; 40 KB records fill the first one at once.
    const spool = await Spool.open({ dir, maxBytes: 64 << 20, segmentBytes: 4 << 20 });
    const big = (i: number) => Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(40_000) }));
    await Promise.all(Array.from({ length: 160 }, (_, i) => spool.append(big(i))));
    expect(segments(dir).length).toBeGreaterThanOrEqual(3);
    expect((await readAll(spool, spool.checkpoint)).values).toEqual(Array.from({ length: 160 }, (_, i) => i));
    await spool.close();
    const reopened = await Spool.open({ dir, maxBytes: 64 << 20, segmentBytes: 4 << 20 });
    expect((await readAll(reopened, reopened.checkpoint)).values).toEqual(Array.from({ length: 160 }, (_, i) => i));
    await reopened.close();
  });

  it('appends a request\'s payloads all or none: at the cap none is spooled, though the first alone would fit', async () => {
    const dir = freshDir();
    const spool = await Spool.open({ dir, maxBytes: 1000, segmentBytes: 100_000 });
    const small = payload(1); // about 130 bytes: fits
    const large = Buffer.from(JSON.stringify({ i: 2, pad: 'x'.repeat(900) })); // fits alone too, not with `small`
    await expect(spool.appendAll([small, large])).rejects.toBeInstanceOf(SpoolFullError);
    expect(spool.depthBytes()).toBe(0);
    expect((await readAll(spool, spool.checkpoint)).values).toEqual([]);
    await expect(spool.appendAll([small, payload(3)])).resolves.toBeUndefined();
    expect((await readAll(spool, spool.checkpoint)).values).toEqual([1, 3]);
    await spool.close();
  });
});
