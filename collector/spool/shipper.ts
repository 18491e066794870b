// Reads the spool from its checkpoint and inserts what it finds into ClickHouse in large batches
// (by rows, bytes or time), retrying with backoff while ClickHouse is down. The checkpoint moves only
// after ClickHouse has confirmed a batch, so a crash re-sends at most the batch in flight; rows are
// deduplicated by message_id downstream (ReplacingMergeTree, deduplicating views).
import type { ShipperConfig } from '../config';
import { toDateTimeText } from '../ingest/normalize';
import { clickhouseErrorCode } from '../warehouse/client';
import type { CollectorMetrics } from '../metrics';
import type { LinesFormat, LinesWriter } from '../warehouse/lines';
import type { QuarantineRow } from '../warehouse/events';
import { columnsOf, lineFields, quarantineLine, type RowTable } from '../warehouse/row-text';
import { decodeSpoolPayload, SpoolPayloadError } from './payload';
import { appendRefused } from './refused-file';
import type { Position, Spool } from './spool';

/** Rows of one table in one format, inserted together. */
interface Lines {
  table: RowTable;
  format: LinesFormat;
  /** TabSeparated: how many of the table's columns the rows have. */
  columns: number;
  chunks: Buffer[];
  rows: number;
  /** Set once ClickHouse refused the group, so a retry carries on isolating where it stopped. */
  isolation?: Isolation;
}

/**
 * A refused group's rows, one per line, and how many of them are settled: inserted or set aside, as
 * ClickHouse confirmed. Isolation goes through the lines in order, so the settled ones are a prefix.
 * Kept in memory for one insert() only: after a crash (or a stop that runs out of time) mid-isolation the
 * group is replayed from the spool, and rows already set aside are quarantined again.
 */
interface Isolation {
  lines: Buffer[];
  settled: number;
}

interface Batch {
  /** Quarantine first, so a refused event is on record before its batch's accepted ones. */
  lines: Lines[];
  rows: number;
  eventRows: number;
  bytes: number;
  end: Position;
}

function addPayload(batch: Batch, payload: Buffer): void {
  const { table, format, columns, rows, lines } = decodeSpoolPayload(payload);
  let into = batch.lines.find((l) => l.table === table && l.format === format && l.columns === columns);
  if (!into) {
    into = { table, format, columns, chunks: [], rows: 0 };
    if (table === 'events_quarantine') batch.lines.unshift(into);
    else batch.lines.push(into);
  }
  into.rows += rows;
  into.chunks.push(lines);
  batch.rows += rows;
  if (table === 'events') batch.eventRows += rows;
  batch.bytes += lines.length;
}

interface Logger {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/**
 * Spool bytes read (and checksummed) at a time: about 40 requests' rows. A batch is gathered in such
 * pieces so the event loop, which also answers requests, is never held long, and no batch-sized buffer
 * is allocated for the read.
 */
const readChunkBytes = 512 * 1024;

/** The most of a batch read into the shipper's kept buffer; a larger batch reads the rest into new ones. */
const keptBatchBytes = 32 * 1024 * 1024;

/** How much of `arena` is taken once `payload` is in it (a record's payload is followed by its one-byte trailer). */
function usedThrough(arena: Buffer, payload: Buffer | undefined, used: number): number {
  return payload && payload.buffer === arena.buffer ? payload.byteOffset - arena.byteOffset + payload.length + 1 : used;
}

/**
 * What the log says when a batch could not be read or checkpointed. A payload this version cannot read
 * (payload.ts) is no disk trouble: a newer version wrote it, and only that version can ship it
 * (docs/collector.md, "Durability").
 */
export function shipFailureMessage(error: unknown): string {
  if (error instanceof SpoolPayloadError) {
    return `the spool holds a record written by a newer Tagflow version (${error.message}), which this version cannot read: upgrade to it again, or drain the spool with it before downgrading (docs/collector.md, "Durability"); nothing is dropped, retrying`;
  }
  return 'the shipper could not read the spool or save its checkpoint; retrying';
}

const samePosition = (a: Position, b: Position) => a.segment === b.segment && a.offset === b.offset;

export class Shipper {
  private position: Position;
  private running: Promise<void> | undefined;
  private stopping = false;
  private deadline = Infinity;
  /**
   * A batch's records are read into this one buffer, reused for every batch: a new buffer per read
   * lived as long as its batch (long enough to be promoted), and freeing those off-heap bytes made V8 run
   * a full garbage collection about every half second, a pause for every request in flight (bench/RESULTS.md).
   */
  private arena: Buffer | undefined;

  constructor(
    private readonly spool: Spool,
    private readonly writer: LinesWriter,
    private readonly config: ShipperConfig,
    private readonly metrics: CollectorMetrics,
    private readonly log: Logger,
  ) {
    this.position = spool.checkpoint;
  }

  start(): void {
    this.running ??= this.loop().catch((error: unknown) => this.log.error({ err: error }, 'the shipper stopped'));
  }

  /**
   * Ships what is spooled until the spool is empty or `timeoutMs` has passed, then stops. What is not
   * shipped stays in the spool and is replayed at the next start.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.deadline = Date.now() + timeoutMs;
    this.spool.wakeReaders();
    await this.running;
  }

  private async loop(): Promise<void> {
    for (;;) {
      try {
        const batch = await this.nextBatch();
        if (batch.rows > 0) {
          if (!(await this.insert(batch))) return;
        }
        if (!samePosition(batch.end, this.position)) {
          await this.spool.commit(batch.end);
          this.position = batch.end;
        }
      } catch (error) {
        // A spool read or checkpoint write failed, or a record is one this version cannot read: keep the
        // position (nothing is dropped), try again shortly.
        this.log.error({ err: error }, shipFailureMessage(error));
        if (this.stopping) return;
        await new Promise((resolve) => setTimeout(resolve, this.config.maxBackoffMs));
      }
      if (this.stopping && (this.spool.depthBytes() <= 0 || Date.now() > this.deadline)) return;
    }
  }

  private full(batch: Batch): boolean {
    return batch.rows >= this.config.maxRows || batch.bytes >= this.config.maxBytes;
  }

  /**
   * Gathers records until a limit is reached, the interval has passed since the first one, or the
   * writer has been idle for `idleMs` (a pause or the end of the traffic: the tail ships at once instead
   * of waiting out the interval).
   */
  private async nextBatch(): Promise<Batch> {
    const batch: Batch = { lines: [], rows: 0, eventRows: 0, bytes: 0, end: this.position };
    let firstAt: number | undefined;
    let lastRead = false;
    this.arena ??= Buffer.allocUnsafe(Math.min(this.config.maxBytes, keptBatchBytes) + readChunkBytes);
    let used = 0;
    for (;;) {
      const from = batch.end;
      const read = await this.spool.read(from, readChunkBytes, this.arena.subarray(used));
      used = usedThrough(this.arena, read.payloads.at(-1), used);
      for (const [i, payload] of read.payloads.entries()) {
        addPayload(batch, payload);
        batch.end = read.ends[i] ?? read.next;
        if (this.full(batch)) return batch;
      }
      batch.end = read.next;
      firstAt ??= read.payloads.length > 0 ? Date.now() : undefined;
      if (!samePosition(read.next, from)) continue;
      // Caught up with the writer.
      if (this.stopping || lastRead) return batch;
      if (firstAt === undefined) {
        await this.spool.waitForData(this.config.intervalMs);
        if (!samePosition(batch.end, this.position)) return batch; // skipped a corrupt stretch: commit past it
        continue;
      }
      lastRead = await this.waitForMore(batch.end, firstAt + this.config.intervalMs);
    }
  }

  /**
   * Waits until a read's worth is spooled after `end` (read it, go on: false) or until `deadline` or a
   * pause of `idleMs` (read what is left, then ship: true). Reading once per chunk instead of after every
   * group commit spares the event loop a file open, read and close per commit.
   */
  private async waitForMore(end: Position, deadline: number): Promise<boolean> {
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return true;
      if (!(await this.spool.waitForData(Math.min(left, this.config.idleMs)))) return true;
      if (this.stopping || this.spool.bytesAfter(end) >= readChunkBytes) return false;
    }
  }

  /** Inserts until ClickHouse confirms; false when stopping ran out of time first. */
  private async insert(batch: Batch): Promise<boolean> {
    let delay = 100;
    let done = 0; // groups already confirmed, so a retry does not insert them again
    for (;;) {
      const started = performance.now();
      try {
        for (; done < batch.lines.length; done++) {
          const group = batch.lines[done] as Lines;
          if (!group.isolation) {
            try {
              await this.writer.insertLines(group.table, group.format, group.chunks, group.columns);
              continue;
            } catch (error) {
              if (!refusedInput(error)) throw error;
            }
            group.isolation = { lines: group.chunks.flatMap(splitLines), settled: 0 };
          }
          // A retry after a transient error goes on with the lines not yet settled: events_quarantine is not deduplicated.
          await this.isolate(group, group.isolation, group.isolation.lines.slice(group.isolation.settled));
        }
        this.metrics.insertSeconds.observe((performance.now() - started) / 1000);
        this.metrics.batchRows.observe(batch.eventRows);
        this.metrics.inserted.inc(batch.eventRows);
        return true;
      } catch (error) {
        this.metrics.insertFailures.inc();
        this.log.warn({ err: error, rows: batch.rows, retryInMs: delay }, 'ClickHouse insert failed; the batch stays in the spool and is retried');
        if (this.stopping && Date.now() + delay > this.deadline) return false;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, this.config.maxBackoffMs);
      }
    }
  }

  /**
   * ClickHouse refused the input: halve it until the refused rows are alone, insert the others, and
   * quarantine each refused row with ClickHouse's reason, so one bad row cannot stall the spool.
   */
  private async isolate(group: Lines, isolation: Isolation, lines: Buffer[]): Promise<void> {
    try {
      await this.writer.insertLines(group.table, group.format, lines, group.columns);
      isolation.settled += lines.length;
    } catch (error) {
      if (!refusedInput(error)) throw error;
      const [line] = lines;
      if (lines.length === 1 && line) {
        await this.setAside(group, line, error);
        isolation.settled += 1;
        return;
      }
      const half = Math.ceil(lines.length / 2);
      await this.isolate(group, isolation, lines.slice(0, half));
      await this.isolate(group, isolation, lines.slice(half));
    }
  }

  /**
   * Moves a refused row to events_quarantine with ClickHouse's reason. A row ClickHouse refuses there too
   * (or a refused quarantine row) goes to refused.jsonl in the spool directory: the spool moves on, the
   * row is kept.
   */
  private async setAside(group: Lines, line: Buffer, error: unknown): Promise<void> {
    const { table } = group;
    const reason = `ClickHouse refused the row: ${firstLine(error)}`;
    const row = rowObject(group, line.toString('utf8'));
    const raw = JSON.stringify(row);
    this.log.error({ table, reason, raw: raw.slice(0, 2000) }, 'a spooled row was refused by ClickHouse and set aside');
    let refusedAgain = table === 'events_quarantine' ? reason : undefined;
    if (!refusedAgain) {
      const source = typeof row.source === 'string' ? row.source : '';
      const refused: QuarantineRow = { received_at: toDateTimeText(Date.now()), source, reason, raw };
      try {
        await this.writer.insertLines('events_quarantine', 'TabSeparated', [Buffer.from(quarantineLine(refused))]);
      } catch (quarantineError) {
        if (!refusedInput(quarantineError)) throw quarantineError;
        refusedAgain = `${reason}; its quarantine row too: ${firstLine(quarantineError)}`;
      }
    }
    if (refusedAgain) {
      const file = await appendRefused(this.spool.dir, { at: new Date().toISOString(), table, reason: refusedAgain, row });
      this.log.error({ table, file }, 'ClickHouse refused the quarantine row as well; the row is kept in the file');
      this.metrics.refusedToFile.inc({ table });
    }
    // Counted once set aside, so a transient failure of the quarantine insert does not count it twice.
    this.metrics.refusedRows.inc({ table });
  }
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];

/**
 * A spooled row as a column → value object (the quarantine keeps refused rows as JSON); a row whose
 * fields do not match its columns is kept as its text.
 */
function rowObject(group: Lines, text: string): Record<string, unknown> {
  if (group.format === 'JSONEachRow') {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // Not JSON after all: kept as text below.
    }
    return { line: text.trimEnd() };
  }
  const fields = lineFields(text);
  const columns = columnsOf[group.table].slice(0, group.columns);
  if (fields.length !== columns.length) return { line: text.trimEnd() };
  return Object.fromEntries(columns.map((column, i) => [column, fields[i]]));
}

/** ClickHouse's codes for input it cannot parse or store: the rows are at fault, not the server. */
const refusedInputCodes = new Set(['6', '25', '26', '27', '38', '41', '53', '69', '70', '72', '117', '131']);

function refusedInput(error: unknown): boolean {
  const code = clickhouseErrorCode(error);
  return code !== undefined && refusedInputCodes.has(code);
}

/** The lines of a chunk (one row each), each with its newline. */
function splitLines(chunk: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  for (let start = 0; start < chunk.length; ) {
    const end = chunk.indexOf(0x0a, start);
    const stop = end < 0 ? chunk.length : end + 1;
    lines.push(chunk.subarray(start, stop));
    start = stop;
  }
  return lines;
}
