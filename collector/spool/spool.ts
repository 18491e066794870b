// The durable on-disk log between the HTTP answer and ClickHouse. Appends are grouped: every append
// waiting while one synchronous (O_DSYNC) write runs goes out in the next one (group commit), and an
// append resolves only once its bytes are on disk. Segment files roll at a size; a checkpoint file says
// how far the shipper has been confirmed by ClickHouse; segments wholly before it are deleted.
// Segments are plain appended files. (They were once zero-filled ahead of use to spare fdatasync a
// journal commit; measured on the bench machine, writing and syncing those 16 MB of zeros every few
// seconds raised the p99 of the acknowledging O_DSYNC writes from ~1 ms to ~6 ms, far more than the
// ~0.2 ms a journal commit adds to each append.) A crash can leave zeros after the last record, so data
// ends at a segment's last non-zero byte (every record ends with a newline).
import { mkdirSync } from 'node:fs';
import { access, constants, open, readdir, readFile, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { lock, unlock } from './lock';
import { decodeRecord, headerBytes, nextIntactRecord, payloadBytes, recordBytes, writeRecord, type PayloadParts } from './record';

export { SpoolLockedError } from './lock';

/** A place in the log: a segment number and a byte offset in it. */
export interface Position {
  segment: number;
  offset: number;
}

export interface SpoolOptions {
  dir: string;
  /** Unshipped bytes past which appends are refused (backpressure). */
  maxBytes: number;
  segmentBytes: number;
  /** Bytes waiting in memory for the next group commit; past this appends are refused too. */
  maxQueuedBytes?: number;
  /** Told about every torn or corrupt stretch found while reading. */
  onCorrupt?: (report: CorruptReport) => void;
  /** Told how long each group commit (an O_DSYNC write) took and how many appends it carried. */
  onCommit?: (seconds: number, appends: number) => void;
}

export interface CorruptReport {
  segment: number;
  offset: number;
  bytes: number;
  /** Where the bad bytes were copied to. */
  file: string;
}

export interface ReadResult {
  payloads: Buffer[];
  /** Where a read continues after each payload (a reader may take only some of them). */
  ends: Position[];
  /** Where the next read starts. */
  next: Position;
}

/** The spool is over its byte cap: answer 503 with Retry-After. */
export class SpoolFullError extends Error {
  readonly code = 'SPOOL_FULL';
}

/** Writing to disk failed: nothing was acknowledged. */
export class SpoolWriteError extends Error {
  readonly code = 'SPOOL_WRITE_FAILED';
}

interface Waiting {
  parts: PayloadParts;
  payloadBytes: number;
  /** Its size as a record. */
  bytes: number;
  resolve(): void;
  reject(error: Error): void;
}

const maxPayloadBytes = 256 * 1024 * 1024;
/**
 * A group commit is written from one buffer kept for the spool's life (grown for a larger record, then
 * shrunk back): per request allocations of off-heap memory, a few copies of its rows each, made V8
 * run a full garbage collection every few hundred milliseconds, each a pause for every request.
 */
const writeBufferBytes = 1024 * 1024;
const segmentName = (n: number) => `${String(n).padStart(12, '0')}.seg`;
const segmentNumber = (file: string) => (/^(\d{12})\.seg$/.exec(file)?.[1] ? Number(file.slice(0, 12)) : undefined);

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Where a segment's data ends: after its last non-zero byte (zeros after it are its zero-filling, not yet written over). */
async function dataEnd(path: string): Promise<number> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const chunk = Buffer.allocUnsafe(1024 * 1024);
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      for (let i = bytesRead - 1; i >= 0; i--) if (chunk[i] !== 0) return start + i + 1;
      end = start;
    }
    return 0;
  } finally {
    await handle.close();
  }
}

/**
 * Creates a segment, new and empty (an existing one's data would be overwritten), for appends with
 * O_DSYNC: each write returns once its data is on disk, as write + fdatasync would, but in one
 * thread-pool round trip instead of two (each round trip waits for the busy event loop to pick up its
 * completion, which made a group commit cost several event-loop turns).
 */
const createForAppend = (path: string) => open(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_DSYNC);

/** Zeros written per step when a segment is prepared, and the pause after each step. */
const zeroStepBytes = 256 * 1024;
const zeroPauseMs = 5;
const zeros = Buffer.alloc(zeroStepBytes);

/** A prepared segment's zero-filling; `stop()` ends it after the step in flight and resolves with the bytes zeroed. */
interface ZeroFill {
  /** True once the whole segment holds zeros. */
  readonly done: boolean;
  stop(): Promise<number>;
}

/**
 * Writes zeros over the first `bytes` of a new segment (opened with O_DSYNC, so each step is on disk
 * when it returns) in small, spaced steps. A later O_DSYNC write into blocks that already hold data
 * changes no metadata, so it does not wait for a file-system journal commit, which an append has to
 * (and, with ClickHouse writing parts on the same disk, sometimes waits 10 ms or more for). Small spaced
 * steps keep the zeros from holding up the acknowledging writes that share the disk.
 */
function zeroFill(handle: FileHandle, bytes: number): ZeroFill {
  let stopped = false;
  let zeroed = 0;
  let endPause = () => undefined as void;
  const filling = (async () => {
    while (zeroed < bytes && !stopped) {
      const step = Math.min(zeroStepBytes, bytes - zeroed);
      await handle.write(zeros, 0, step, zeroed);
      zeroed += step;
      await new Promise<void>((resolve) => {
        endPause = resolve;
        setTimeout(resolve, zeroPauseMs);
      });
    }
  })().catch(() => undefined); // a segment left partly filled is appended to past its zeros: slower, not wrong
  return {
    get done() {
      return zeroed >= bytes;
    },
    async stop() {
      stopped = true;
      endPause(); // a roll waits for the step in flight, not for the pause after it
      await filling;
      return zeroed;
    },
  };
}

/** Creates segment `n` for appends and makes its directory entry durable (nothing in it may be acknowledged before). */
async function createSegment(dir: string, n: number): Promise<FileHandle> {
  const handle = await createForAppend(join(dir, segmentName(n)));
  try {
    await fsyncDir(dir);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle;
}

async function writeFully(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < buffer.length) {
    const { bytesWritten } = await handle.write(buffer, written, buffer.length - written, position + written);
    written += bytesWritten;
  }
}

/** Reads `length` bytes at `position` into `into` when it is large enough, else into a new buffer. */
async function readAt(handle: FileHandle, position: number, length: number, into?: Buffer): Promise<Buffer> {
  const buffer = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await handle.read(buffer, read, length - read, position + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return buffer.subarray(0, read);
}

export class Spool {
  private readonly sizes = new Map<number, number>();
  private queue: Waiting[] = [];
  private queuedBytes = 0;
  private flushing: Promise<void> | undefined;
  private waiters: Array<() => void> = [];
  private closed = false;
  private lastWriteFailed = false;
  private writeBuffer: Buffer | undefined;
  /** The segment after the active one, created (and its directory entry made durable) ahead of need. */
  private next: Promise<FileHandle> | undefined;
  /** The zeros being written into the next segment ahead of its use. */
  private nextZeros: Promise<ZeroFill | undefined> | undefined;
  /** The same, once the next segment has been created. */
  private nextFill: ZeroFill | undefined;
  /** How much of the active segment held zeros when it became active: writes past it are appends. */
  private activeZeroed = 0;

  private constructor(
    private readonly options: Required<Omit<SpoolOptions, 'onCorrupt' | 'onCommit'>> & Pick<SpoolOptions, 'onCorrupt' | 'onCommit'>,
    private checkpointAt: Position,
    private active: number,
    private handle: FileHandle,
  ) {}

  /** Opens (or creates) the spool in `options.dir`; a new segment is started for this process's appends. */
  static async open(options: SpoolOptions): Promise<Spool> {
    const dir = options.dir;
    mkdirSync(join(dir, 'corrupt'), { recursive: true });
    await lock(dir);
    const files = await readdir(dir);
    // A zero-filled segment prepared by an older version, never written.
    for (const file of files) if (file.endsWith('.next')) await unlink(join(dir, file));
    const numbers = files.map(segmentNumber).filter((n): n is number => n !== undefined).sort((a, b) => a - b);
    const sizes = await Promise.all(numbers.map(async (n) => [n, await dataEnd(join(dir, segmentName(n)))] as const));
    const saved = await readCheckpoint(dir);
    const first = numbers[0];
    const checkpoint = saved && (first === undefined || saved.segment >= first) ? saved : { segment: first ?? 1, offset: 0 };
    const active = Math.max(checkpoint.segment, ...numbers) + (numbers.length > 0 || saved ? 1 : 0);
    const handle = await createSegment(dir, active);
    const spool = new Spool({ maxQueuedBytes: 64 * 1024 * 1024, ...options }, checkpoint, active, handle);
    for (const [n, size] of sizes) if (n >= checkpoint.segment) spool.sizes.set(n, size);
    spool.sizes.set(active, 0);
    spool.prepareNext();
    return spool;
  }

  /** The spool's directory. */
  get dir(): string {
    return this.options.dir;
  }

  /** Whether the next segment is created and wholly zero-filled, so a roll onto it overwrites zeros. */
  get nextReady(): boolean {
    return this.nextFill?.done === true;
  }

  /** Where the shipper's confirmed position is. */
  get checkpoint(): Position {
    return this.checkpointAt;
  }

  /** Bytes appended (or waiting to be) and not yet confirmed by the shipper. */
  depthBytes(): number {
    let total = this.queuedBytes - (this.sizes.has(this.checkpointAt.segment) ? this.checkpointAt.offset : 0);
    for (const size of this.sizes.values()) total += size;
    return total;
  }

  /** Bytes on disk after `position`: what a reader standing there has yet to read. */
  bytesAfter(position: Position): number {
    let total = 0;
    for (const [segment, size] of this.sizes) {
      if (segment > position.segment) total += size;
      else if (segment === position.segment) total += size - position.offset;
    }
    return total;
  }

  /** True when `bytes` more would stay within the byte cap (a cheap check before reading a request). */
  hasRoomFor(bytes: number): boolean {
    return this.depthBytes() + bytes <= this.options.maxBytes && this.queuedBytes + bytes <= this.options.maxQueuedBytes;
  }

  /** Appends one payload (a Buffer, or parts written one after another); resolves once it is on disk. Throws SpoolFullError at the cap. */
  append(payload: Buffer | PayloadParts): Promise<void> {
    return this.appendAll([payload]);
  }

  /**
   * Appends payloads as separate records, all or none: the room for all of them is checked at once, so
   * at the cap none is appended (a request's rows are never half spooled). Resolves once all are on disk.
   */
  appendAll(payloads: ReadonlyArray<Buffer | PayloadParts>): Promise<void> {
    if (this.closed) return Promise.reject(new SpoolWriteError('the spool is closed'));
    const records = payloads.map((payload) => {
      const parts = Buffer.isBuffer(payload) ? [payload] : payload;
      const size = payloadBytes(parts);
      return { parts, payloadBytes: size, bytes: recordBytes(size) };
    });
    const bytes = records.reduce((total, record) => total + record.bytes, 0);
    if (!this.hasRoomFor(bytes)) return Promise.reject(new SpoolFullError('the spool is full'));
    this.queuedBytes += bytes;
    const written = records.map((record) => new Promise<void>((resolve, reject) => this.queue.push({ ...record, resolve, reject })));
    this.startFlush();
    return Promise.all(written).then(() => undefined);
  }

  /** Takes the next group from the queue and writes its records into the write buffer. */
  private nextGroup(): { group: Waiting[]; buffer: Buffer } {
    const first = this.queue[0] as Waiting;
    const capacity = Math.max(writeBufferBytes, first.bytes);
    if (!this.writeBuffer || this.writeBuffer.length !== capacity) this.writeBuffer = Buffer.allocUnsafe(capacity);
    let take = 0;
    let total = 0;
    for (const waiting of this.queue) {
      if (total + waiting.bytes > capacity) break;
      total += waiting.bytes;
      take += 1;
    }
    const group = this.queue.splice(0, take);
    let offset = 0;
    for (const waiting of group) offset = writeRecord(this.writeBuffer, offset, waiting.parts, waiting.payloadBytes);
    return { group, buffer: this.writeBuffer.subarray(0, offset) };
  }

  private startFlush(): void {
    if (this.flushing) return;
    // setImmediate: appends made by the other requests of this event-loop turn join the same group.
    this.flushing = new Promise((resolve) => setImmediate(resolve)).then(() => this.flush()).finally(() => {
      this.flushing = undefined;
      // An append may have queued after the loop saw an empty queue but before this ran.
      if (this.queue.length > 0) this.startFlush();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const { group, buffer } = this.nextGroup();
      let position = this.sizes.get(this.active) ?? 0;
      const started = performance.now();
      try {
        if ((position > 0 && position + buffer.length > this.options.segmentBytes) || this.rollEarly(position, buffer.length)) {
          await this.roll();
          position = 0;
        }
        await writeFully(this.handle, buffer, position); // O_DSYNC: on disk when this resolves
        this.options.onCommit?.((performance.now() - started) / 1000, group.length);
        this.sizes.set(this.active, position + buffer.length);
        this.queuedBytes -= buffer.length;
        this.lastWriteFailed = false;
        for (const waiting of group) waiting.resolve();
        this.wake();
      } catch (error) {
        this.queuedBytes -= buffer.length;
        this.lastWriteFailed = true;
        for (const waiting of group) waiting.reject(new SpoolWriteError(`writing the spool failed: ${(error as Error).message}`));
        // Whatever part of the group reached the file is skipped later as a corrupt stretch.
        const size = await dataEnd(join(this.options.dir, segmentName(this.active))).catch(() => position);
        this.sizes.set(this.active, size);
        await this.roll().catch(() => undefined);
        continue;
      }
      // Outside the write's try: the group is on disk and acknowledged whatever the roll does. A roll
      // that fails here is tried again before the next group's write (which fails, unacknowledged, if
      // the roll still cannot be made).
      if ((this.sizes.get(this.active) ?? 0) >= this.options.segmentBytes) await this.roll().catch(() => undefined);
    }
  }

  /**
   * Creates the next segment now, so a roll only switches files: creating one and making its directory
   * entry durable (an fsync of the directory, a journal commit) took milliseconds that every append
   * waiting behind the roll added to its acknowledgement.
   */
  private prepareNext(): void {
    const next = createSegment(this.options.dir, this.active + 1);
    next.catch(() => undefined); // a failure surfaces at the roll, which then tries again
    this.next = next;
    this.nextZeros = next.then(
      (handle) => (this.nextFill = zeroFill(handle, this.options.segmentBytes)),
      () => undefined,
    );
  }

  /** Stops zero-filling the next segment; resolves, once no zero write into it is in flight, with the bytes zeroed. */
  private async stopZeros(): Promise<number> {
    const fill = await this.nextZeros;
    this.nextZeros = undefined;
    this.nextFill = undefined;
    return (await fill?.stop()) ?? 0;
  }

  /**
   * True when a write of `bytes` at `position` would append to the active segment (the one made at
   * start-up, or one the filling had not finished) while the next one is all zeros: rolling early
   * puts the write where it changes no metadata.
   */
  private rollEarly(position: number, bytes: number): boolean {
    return position > 0 && position + bytes > this.activeZeroed && this.nextReady;
  }

  private async roll(): Promise<void> {
    const old = this.handle;
    // Its zeros must not land on records: whatever is not zeroed yet is appended to instead.
    let zeroed = await this.stopZeros();
    const prepared = this.next;
    this.next = undefined;
    const dir = this.options.dir;
    try {
      this.handle = await (prepared ?? createSegment(dir, this.active + 1));
    } catch {
      // Preparing it failed (perhaps half way): once more, from scratch.
      await unlink(join(dir, segmentName(this.active + 1))).catch(() => undefined);
      this.handle = await createSegment(dir, this.active + 1);
      zeroed = 0;
    }
    this.active += 1;
    this.activeZeroed = zeroed;
    this.sizes.set(this.active, 0);
    // Everything written to the old segment is on disk already (O_DSYNC): closing it waits for nothing.
    void old.close().catch(() => undefined);
    this.prepareNext();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Resolves when new data is on disk or `wakeReaders()` is called (true), or after `timeoutMs` (false).
   */
  waitForData(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  wakeReaders(): void {
    this.wake();
  }

  /** The next segment after `segment` that exists, if any. */
  private after(segment: number): number | undefined {
    let next: number | undefined;
    for (const n of this.sizes.keys()) if (n > segment && (next === undefined || n < next)) next = n;
    return next;
  }

  /**
   * Reads whole records from `from`, about `maxBytes` of them (at least one when there is one).
   * Only data already on disk is read. A torn or corrupt stretch is copied to corrupt/, reported,
   * and skipped: the read goes on at the next intact record. With `into`, the records are read into it
   * when they fit (the payloads are views of it, valid until the caller reuses it).
   */
  async read(from: Position, maxBytes: number, into?: Buffer): Promise<ReadResult> {
    let position = from;
    for (;;) {
      const end = this.sizes.get(position.segment);
      if (end === undefined || position.offset >= end) {
        const next = this.after(position.segment);
        if (next === undefined || position.segment === this.active) return { payloads: [], ends: [], next: position };
        position = { segment: next, offset: 0 };
        continue;
      }
      // A handle of its own: the writer may close the active one when it rolls to a new segment.
      const handle = await open(join(this.options.dir, segmentName(position.segment)), 'r');
      try {
        return await this.readRecords(handle, position, end, maxBytes, into);
      } finally {
        await handle.close();
      }
    }
  }

  private async readRecords(handle: FileHandle, from: Position, end: number, maxBytes: number, into?: Buffer): Promise<ReadResult> {
    let buffer = await readAt(handle, from.offset, Math.min(end - from.offset, Math.max(maxBytes, headerBytes)), into);
    const payloads: Buffer[] = [];
    const ends: Position[] = [];
    let offset = 0;
    while (offset < buffer.length) {
      const decoded = decodeRecord(buffer, offset, maxPayloadBytes);
      if (decoded.kind === 'record') {
        payloads.push(decoded.payload);
        offset += decoded.bytes;
        ends.push({ segment: from.segment, offset: from.offset + offset });
        continue;
      }
      if (offset > 0) break;
      if (decoded.kind === 'incomplete' && from.offset + decoded.bytes <= end) {
        // The first record is larger than maxBytes: read exactly it.
        buffer = await readAt(handle, from.offset, decoded.bytes, into);
        continue;
      }
      return { payloads: [], ends: [], next: await this.setAside(handle, from, end) };
    }
    return { payloads, ends, next: { segment: from.segment, offset: from.offset + offset } };
  }

  /** Copies the bad stretch starting at `from` to corrupt/ and returns where the next intact record is. */
  private async setAside(handle: FileHandle, from: Position, end: number): Promise<Position> {
    const rest = await readAt(handle, from.offset, end - from.offset);
    const good = nextIntactRecord(rest, 0, maxPayloadBytes) ?? rest.length;
    const file = join(this.options.dir, 'corrupt', `${segmentName(from.segment)}-${from.offset}.bin`);
    await writeFile(file, rest.subarray(0, good));
    this.options.onCorrupt?.({ segment: from.segment, offset: from.offset, bytes: good, file });
    return { segment: from.segment, offset: from.offset + good };
  }

  /** Records that everything before `position` is in ClickHouse, durably, and deletes finished segments. */
  async commit(position: Position): Promise<void> {
    const dir = this.options.dir;
    const temporary = join(dir, 'checkpoint.json.tmp');
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(JSON.stringify(position));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, join(dir, 'checkpoint.json'));
    await fsyncDir(dir);
    this.checkpointAt = position;
    for (const n of [...this.sizes.keys()]) {
      if (n < position.segment && n !== this.active) {
        this.sizes.delete(n);
        await unlink(join(dir, segmentName(n))).catch(() => undefined);
      }
    }
  }

  /** True when the spool directory can be written and the last write succeeded. */
  async writable(): Promise<boolean> {
    if (this.closed || this.lastWriteFailed) return false;
    return access(this.options.dir, constants.W_OK).then(
      () => true,
      () => false,
    );
  }

  /** Waits for queued appends, then closes the active segment (removing it when everything is shipped). */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
    this.wake();
    await this.handle.close();
    const dir = this.options.dir;
    await this.stopZeros();
    const next = await this.next?.catch(() => undefined);
    if (next) {
      await next.close();
      await unlink(join(dir, segmentName(this.active + 1))).catch(() => undefined);
    }
    const size = this.sizes.get(this.active) ?? 0;
    const { segment, offset } = this.checkpointAt;
    if (size === 0 || segment > this.active || (segment === this.active && offset >= size)) {
      // Nothing in it is left to ship: leave no empty segment behind (the checkpoint stays).
      await unlink(join(dir, segmentName(this.active))).catch(() => undefined);
    }
    await unlock(dir);
  }
}

async function readCheckpoint(dir: string): Promise<Position | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8'));
    const p = parsed as Partial<Position>;
    return typeof p.segment === 'number' && typeof p.offset === 'number' ? { segment: p.segment, offset: p.offset } : undefined;
  } catch {
    return undefined;
  }
}
