// How many of the query API's expensive requests (funnels, materialisations, member pages, exports) use
// ClickHouse at once. ClickHouse and the collector share two cores with ingestion (the shipper inserts into the
// same server) and the scheduled jobs: without a cap, ten large funnels, or a script retrying a slow export,
// would take both. A request takes a slot or waits for one, in arrival order; past the queue it is refused, so
// the caller can answer 429 at once instead of piling work up.

/** What `acquire` gave: a slot (give it back with `release`, once; more calls do nothing), or why not. */
export type Admission = { admitted: true; release: () => void } | { admitted: false; reason: 'queue_full' | 'aborted' };

/** Requests holding a slot, and requests waiting for one. */
export interface LimiterLoad {
  running: number;
  waiting: number;
}

interface Waiter {
  admit(): void;
}

export class QueryLimiter {
  #running = 0;
  /** In arrival order; a waiter whose request is abandoned is taken out wherever it stands. */
  readonly #queue: Waiter[] = [];

  /**
   * `concurrency` slots (at least 1) and room for `queueLength` waiting requests (0: refuse when every slot is
   * taken); `onChange` hears every change of the load (metrics).
   */
  constructor(
    readonly concurrency: number,
    readonly queueLength: number,
    private readonly onChange: (load: LimiterLoad) => void = () => undefined,
  ) {
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a whole number of at least 1, not ${concurrency}`);
    if (!Number.isSafeInteger(queueLength) || queueLength < 0) throw new RangeError(`queueLength must be a whole number of at least 0, not ${queueLength}`);
  }

  get load(): LimiterLoad {
    return { running: this.#running, waiting: this.#queue.length };
  }

  /**
   * A slot now when one is free and nobody waits (a newcomer never overtakes the queue); else a place in the
   * queue, resolved when the slot comes; `queue_full` when the queue is full; `aborted` when `signal` fires first
   * (the client went away), which gives up the place.
   */
  acquire(signal?: AbortSignal): Promise<Admission> {
    if (signal?.aborted) return Promise.resolve({ admitted: false, reason: 'aborted' });
    if (this.#running < this.concurrency && this.#queue.length === 0) {
      this.#running++;
      this.#changed();
      return Promise.resolve({ admitted: true, release: this.#slot() });
    }
    if (this.#queue.length >= this.queueLength) return Promise.resolve({ admitted: false, reason: 'queue_full' });
    return new Promise<Admission>((resolve) => {
      const leave = (): void => {
        const at = this.#queue.indexOf(waiter);
        if (at < 0) return;
        this.#queue.splice(at, 1);
        this.#changed();
        resolve({ admitted: false, reason: 'aborted' });
      };
      const waiter: Waiter = {
        admit: () => {
          signal?.removeEventListener('abort', leave);
          resolve({ admitted: true, release: this.#slot() });
        },
      };
      signal?.addEventListener('abort', leave, { once: true });
      this.#queue.push(waiter);
      this.#changed();
    });
  }

  /** The release function of a slot just counted in #running: the first call hands it to the next waiter. */
  #slot(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      // Handed over in arrival order; the count goes back up for each waiter admitted.
      while (this.#running < this.concurrency && this.#queue.length > 0) {
        this.#running++;
        (this.#queue.shift() as Waiter).admit();
      }
      this.#changed();
    };
  }

  #changed(): void {
    this.onChange(this.load);
  }
}
