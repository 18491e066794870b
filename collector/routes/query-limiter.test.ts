// The query API's limiter on its own, without ClickHouse: slots, the FIFO queue, refusals and abandoned waits.
import { describe, expect, it } from 'vitest';
import { QueryLimiter, type Admission, type LimiterLoad } from './query-limiter';

/** The release function of an admission, failing the test if it was refused. */
function released(admission: Admission): () => void {
  if (!admission.admitted) throw new Error(`refused: ${admission.reason}`);
  return admission.release;
}

/** Resolves once every already-settled promise's callbacks have run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('QueryLimiter', () => {
  it('admits up to its concurrency at once, queues the next ones, and refuses past the queue', async () => {
    const limiter = new QueryLimiter(2, 1);
    const first = released(await limiter.acquire());
    released(await limiter.acquire());
    const queued = limiter.acquire();
    expect(limiter.load).toEqual({ running: 2, waiting: 1 });
    expect(await limiter.acquire()).toEqual({ admitted: false, reason: 'queue_full' });
    first();
    expect(released(await queued)).toBeTypeOf('function');
    expect(limiter.load).toEqual({ running: 2, waiting: 0 });
  });

  it('refuses at once with a queue of 0 when every slot is taken, and admits again after a release', async () => {
    const limiter = new QueryLimiter(1, 0);
    const release = released(await limiter.acquire());
    expect(await limiter.acquire()).toEqual({ admitted: false, reason: 'queue_full' });
    release();
    expect(limiter.load).toEqual({ running: 0, waiting: 0 });
    expect((await limiter.acquire()).admitted).toBe(true);
  });

  it('hands freed slots to waiters in arrival order', async () => {
    const limiter = new QueryLimiter(1, 3);
    const release = released(await limiter.acquire());
    const order: string[] = [];
    const waiter = (name: string) =>
      limiter.acquire().then((admission) => {
        order.push(name);
        return released(admission);
      });
    const [a, b, c] = [waiter('a'), waiter('b'), waiter('c')];
    release();
    const releaseA = await a;
    await settle();
    expect(order).toEqual(['a']);
    releaseA();
    (await b)();
    (await c)();
    expect(order).toEqual(['a', 'b', 'c']);
    expect(limiter.load).toEqual({ running: 0, waiting: 0 });
  });

  it('never lets a newcomer overtake the queue while a handed-over slot is on its way', async () => {
    const limiter = new QueryLimiter(1, 2);
    const release = released(await limiter.acquire());
    const waiting = limiter.acquire();
    release();
    // The slot now belongs to the waiter, whose promise has not run its callbacks yet.
    expect(limiter.load).toEqual({ running: 1, waiting: 0 });
    const newcomer = limiter.acquire();
    expect(limiter.load).toEqual({ running: 1, waiting: 1 });
    released(await waiting)();
    expect((await newcomer).admitted).toBe(true);
  });

  it('takes a waiter whose signal fires out of the queue, so it frees its place and is never admitted', async () => {
    const limiter = new QueryLimiter(1, 1);
    const release = released(await limiter.acquire());
    const gone = new AbortController();
    const abandoned = limiter.acquire(gone.signal);
    expect(limiter.load.waiting).toBe(1);
    gone.abort();
    expect(await abandoned).toEqual({ admitted: false, reason: 'aborted' });
    expect(limiter.load).toEqual({ running: 1, waiting: 0 });
    // Its place is free again, and the slot goes to the next waiter, not to the one that left.
    const next = limiter.acquire();
    expect(limiter.load.waiting).toBe(1);
    release();
    expect((await next).admitted).toBe(true);
    expect(limiter.load).toEqual({ running: 1, waiting: 0 });
  });

  it('refuses a request whose signal has already fired, without taking a slot', async () => {
    const limiter = new QueryLimiter(1, 1);
    expect(await limiter.acquire(AbortSignal.abort())).toEqual({ admitted: false, reason: 'aborted' });
    expect(limiter.load).toEqual({ running: 0, waiting: 0 });
  });

  it('ignores a second release of one slot (a slot is counted back once)', async () => {
    const limiter = new QueryLimiter(1, 1);
    const release = released(await limiter.acquire());
    const other = limiter.acquire();
    release();
    released(await other);
    release();
    expect(limiter.load).toEqual({ running: 1, waiting: 0 });
  });

  it('ignores an abort after admission', async () => {
    const limiter = new QueryLimiter(1, 1);
    const release = released(await limiter.acquire());
    const gone = new AbortController();
    const waiting = limiter.acquire(gone.signal);
    release();
    const admitted = await waiting;
    gone.abort();
    expect(admitted.admitted).toBe(true);
    expect(limiter.load).toEqual({ running: 1, waiting: 0 });
  });

  it('reports every change of its load', async () => {
    const loads: LimiterLoad[] = [];
    const limiter = new QueryLimiter(1, 1, (load) => loads.push(load));
    const release = released(await limiter.acquire());
    const gone = new AbortController();
    const abandoned = limiter.acquire(gone.signal);
    gone.abort();
    await abandoned;
    release();
    expect(loads).toEqual([
      { running: 1, waiting: 0 },
      { running: 1, waiting: 1 },
      { running: 1, waiting: 0 },
      { running: 0, waiting: 0 },
    ]);
  });

  it('refuses a concurrency below 1 or a queue below 0, or either not whole', () => {
    expect(() => new QueryLimiter(0, 1)).toThrow(RangeError);
    expect(() => new QueryLimiter(1, -1)).toThrow(RangeError);
    expect(() => new QueryLimiter(1.5, 1)).toThrow(RangeError);
    expect(() => new QueryLimiter(1, 0.5)).toThrow(RangeError);
  });
});
