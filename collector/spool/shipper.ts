// Reads the spool from its checkpoint and inserts what it finds into ClickHouse in large batches
// (by rows, bytes or time), retrying with backoff while ClickHouse is down. The checkpoint moves only
// after ClickHouse has confirmed a batch, so a crash re-sends at most the batch in flight; rows are
// deduplicated by message_id downstream (ReplacingMergeTree, deduplicating views).
import type { ShipperConfig } from '../config';
import type { EventRow } from '../ingest/normalize';
import type { CollectorMetrics } from '../metrics';
import type { JsonLinesWriter } from '../warehouse/lines';
import type { QuarantineRow } from '../warehouse/events';
import type { Position, Spool } from './spool';

/** What one request leaves in the spool: its rows, serialised as JSONEachRow lines, per table. */
export interface SpoolRecord {
  events: EventRow[];
  quarantine: QuarantineRow[];
}

type Table = 'events' | 'events_quarantine';
const tableCodes: Record<Table, number> = { events: 0x45, events_quarantine: 0x51 }; // 'E', 'Q'

/** One payload per table with rows: [table code][row count, u32][JSONEachRow text]. */
export function encodeSpoolRecord(record: SpoolRecord): Buffer[] {
  const payloads: Buffer[] = [];
  for (const [table, rows] of [['events', record.events], ['events_quarantine', record.quarantine]] as const) {
    if (rows.length === 0) continue;
    let text = '';
    for (const row of rows) text += `${JSON.stringify(row)}\n`;
    const header = Buffer.allocUnsafe(5);
    header.writeUInt8(tableCodes[table], 0);
    header.writeUInt32BE(rows.length, 1);
    payloads.push(Buffer.concat([header, Buffer.from(text)]));
  }
  return payloads;
}

interface Lines {
  chunks: Buffer[];
  rows: number;
}

interface Batch {
  events: Lines;
  quarantine: Lines;
  bytes: number;
  end: Position;
}

function addPayload(batch: Batch, payload: Buffer): void {
  const lines = payload.readUInt8(0) === tableCodes.events_quarantine ? batch.quarantine : batch.events;
  lines.rows += payload.readUInt32BE(1);
  lines.chunks.push(payload.subarray(5));
  batch.bytes += payload.length;
}

interface Logger {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

const samePosition = (a: Position, b: Position) => a.segment === b.segment && a.offset === b.offset;

export class Shipper {
  private position: Position;
  private running: Promise<void> | undefined;
  private stopping = false;
  private deadline = Infinity;
  private wakeBackoff: (() => void) | undefined;

  constructor(
    private readonly spool: Spool,
    private readonly writer: JsonLinesWriter,
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
      const batch = await this.nextBatch();
      if (batch.events.rows > 0 || batch.quarantine.rows > 0) {
        if (!(await this.insert(batch))) return;
      }
      if (!samePosition(batch.end, this.position)) {
        await this.spool.commit(batch.end);
        this.position = batch.end;
      }
      if (this.stopping && (this.spool.depthBytes() <= 0 || Date.now() > this.deadline)) return;
    }
  }

  /** Gathers records until a limit is reached, or the interval has passed since the first one. */
  private async nextBatch(): Promise<Batch> {
    const batch: Batch = { events: { chunks: [], rows: 0 }, quarantine: { chunks: [], rows: 0 }, bytes: 0, end: this.position };
    let firstAt: number | undefined;
    for (;;) {
      const read = await this.spool.read(batch.end, this.config.maxBytes - batch.bytes);
      for (const payload of read.payloads) addPayload(batch, payload);
      const moved = !samePosition(read.next, batch.end);
      batch.end = read.next;
      firstAt ??= read.payloads.length > 0 ? Date.now() : undefined;
      if (batch.events.rows + batch.quarantine.rows >= this.config.maxRows || batch.bytes >= this.config.maxBytes) return batch;
      if (moved) continue;
      // Caught up with the writer.
      if (this.stopping) return batch;
      if (firstAt === undefined) {
        await this.spool.waitForData(this.config.intervalMs);
        if (!samePosition(batch.end, this.position)) return batch; // skipped a corrupt stretch: commit past it
        continue;
      }
      const left = firstAt + this.config.intervalMs - Date.now();
      if (left <= 0) return batch;
      await this.spool.waitForData(left);
    }
  }

  /** Inserts until ClickHouse confirms; false when stopping ran out of time first. */
  private async insert(batch: Batch): Promise<boolean> {
    let delay = 100;
    let quarantined = batch.quarantine.rows === 0;
    for (;;) {
      const started = performance.now();
      try {
        if (!quarantined) {
          await this.writer.insertLines('events_quarantine', batch.quarantine.chunks);
          quarantined = true;
        }
        await this.writer.insertLines('events', batch.events.chunks);
        this.metrics.insertSeconds.observe((performance.now() - started) / 1000);
        this.metrics.batchRows.observe(batch.events.rows);
        this.metrics.inserted.inc(batch.events.rows);
        return true;
      } catch (error) {
        this.metrics.insertFailures.inc();
        this.log.warn({ err: error, rows: batch.events.rows, retryInMs: delay }, 'ClickHouse insert failed; the batch stays in the spool and is retried');
        if (this.stopping && Date.now() + delay > this.deadline) return false;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wakeBackoff = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeBackoff = undefined;
        delay = Math.min(delay * 2, this.config.maxBackoffMs);
      }
    }
  }
}
