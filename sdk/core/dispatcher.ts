// Delivery: writes queued events to the queue before any network attempt, sends them in batches (one
// request in flight per tab, one sending tab per site where the browser has Web Locks), retries with
// backoff, pauses offline, sends at once when the page is hidden and hands what this tab has not seen
// acknowledged to sendBeacon when it unloads. An event leaves the queue only once the collector answered
// for its batch: at least once.
import { retryDelay } from './backoff';
import { batchBody, takeBatch } from './batch';
import type { ResolvedOptions } from './options';
import type { DeliveryPolicy } from './plugin';
import { applyCaps, switchableQueue, type QueuedEvent } from './queue';
import { byteLength } from './safe-json';
import { outcomeOf, postBatch } from './transport';
import type { DropCounts } from './types';

/** What a page may have in flight in requests that outlive it (fetch keepalive, sendBeacon). */
export const keepaliveBudget = 64_000;
/** At most this many events in the page-hide beacon (the collector takes 2,500 per request). */
export const beaconEvents = 500;

export interface Dispatcher {
  /** Takes a new event: written to the queue on the next `write`, then sent in a batch. */
  push(item: QueuedEvent): void;
  /** Writes what was pushed to the queue (IndexedDB, or memory). */
  write(): Promise<void>;
  /** Sends everything sendable now; one run at a time per tab. */
  flush(): Promise<void>;
  /** Applies a policy change: persistence moves the queue, send resumes delivery. */
  policyChanged(): Promise<void>;
  /** Drops everything not sent yet; a send under way stops before its next batch. */
  clear(): Promise<void>;
}

/**
 * The dispatcher of one instance: it reads `policy` (which the instance changes), counts in `dropped`
 * what it gives up on, and logs with `log`.
 */
export function createDispatcher(options: ResolvedOptions, policy: DeliveryPolicy, dropped: DropCounts, log: (...args: unknown[]) => void): Dispatcher {
  const url = `${options.endpoint}/v1/batch`;
  const name = `tagflow-${options.writeKey}`;
  const queue = switchableQueue(name, log);
  let pending: QueuedEvent[] = [];
  /** This tab's events not yet seen acknowledged (nor handed to a beacon): what a page-hide beacon carries. */
  let unsent = new Map<string, QueuedEvent>();
  let writes: Promise<unknown> = Promise.resolve();
  /** The last run of `flush` (at first the resolved promise `writes` starts from). */
  let running = writes as Promise<void>;
  /** The run of `flush` asked for and not begun yet. */
  let next: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let attempt = 0;
  let retryAt = 0;
  /**
   * The page is being left (pagehide, until it is shown again): a write or fetch begun now may never land,
   * so each event pushed gets a beacon. Chromium fires pagehide, then visibilitychange, then unload: the
   * page's own listeners for those may track after the page-hide beacon has gone.
   */
  let left: boolean | undefined;

  const sendable = () => policy.send && navigator.onLine;
  const serial = (op: () => Promise<unknown>): Promise<void> => (writes = writes.then(op).catch(log)) as Promise<void>;
  const schedule = (delay: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, delay);
  };
  const write = () => serial(() => queue.add(pending.splice(0))); // takes out all that is pending

  /** Sends batches until the queue is empty or the collector asks to wait. */
  const sendAll = async () => {
    // clear() (an erase) replaces `unsent`: a send begun before it stops rather than go on with what it
    // read before it, events carrying identifiers that were just erased.
    const startedWith = unsent;
    const { keep, drop } = applyCaps(await queue.all(), Date.now(), options.maxQueueEvents, options.maxQueueAge);
    if (drop.length) {
      dropped.overCap += drop.length;
      log('over caps', drop.length);
      await queue.remove(drop);
    }
    const queued = new Set(keep.map((item) => item.id));
    for (const [id, item] of unsent) if (!queued.has(id) && !pending.includes(item)) unsent.delete(id); // another tab sent it
    let items = keep;
    let max = options.batchSize;
    while (items.length && sendable() && unsent == startedWith) {
      const batch = takeBatch(items, max, options.batchBytes);
      const body = batchBody(batch, options.writeKey);
      const result = await postBatch(url, body, byteLength(body) < keepaliveBudget - 4000);
      const outcome = outcomeOf(result, batch);
      if (outcome == 'retry') {
        const delay = retryDelay(attempt++, result.retryAfter);
        retryAt = Date.now() + delay;
        log('retry in', delay, result);
        return schedule(delay);
      }
      attempt = 0;
      if (outcome == 'split') {
        max = (batch.length + 1) >> 1; // half, rounded up
        continue;
      }
      dropped.rejected += result.status < 300 ? result.rejected.length : outcome.length;
      log('sent', batch.length, result);
      await queue.remove(outcome);
      for (const item of outcome) unsent.delete(item.id);
      items = items.filter((item) => !outcome.includes(item));
    }
  };

  const run = async () => {
    await write();
    // Offline or not allowed: resumed by the online event or policyChanged. Backing off: the retry timer runs.
    if (!sendable() || retryAt > Date.now()) return;
    clearTimeout(timer);
    timer = undefined;
    // The queue is shared with other tabs only when it is persisted: then one tab sends at a time, under a
    // Web Lock. Browsers without Web Locks (Firefox before 96, Safari before 15.4) send without one: two
    // tabs may then send the same events, which the collector deduplicates by messageId.
    await (policy.persist && navigator.locks ? navigator.locks.request(name, sendAll) : sendAll());
  };

  // One run at a time: a flush asked for during a run gets the next one, which every later flush joins
  // until it begins, so what they queued goes too.
  const flush = (): Promise<void> =>
    (next ??= running = running.then(() => {
      next = undefined;
      return run();
    }).catch(log));

  /**
   * One beacon with the oldest unacknowledged events of this tab that fit the keepalive budget; at
   * pagehide, and for each event pushed after it.
   */
  const unloading = () => {
    left = true;
    void write();
    const batch = takeBatch([...unsent.values()], beaconEvents, keepaliveBudget - 4000);
    // sendBeacon sends a string as text/plain (no preflight); false when the browser refused it (quota).
    if (batch.length && sendable() && navigator.sendBeacon(url, batchBody(batch, options.writeKey))) {
      log('beacon', batch.length);
      // Still queued (a beacon has no answer): sent again later unless a batch is acknowledged. Those that
      // did not fit stay queued too, but leave `unsent`: an event pushed next goes alone, in what this
      // beacon left of the keepalive quota (64 KB in flight per page), not behind them in a refused one.
      unsent.clear();
    }
  };

  // Hidden may mean closed soon (mobile) or just another tab: a keepalive fetch survives the first and,
  // unlike a beacon, is acknowledged in the second. Unloading: the beacon. Visible again (back from the
  // back/forward cache, which fires it before pageshow): events wait for batches again.
  addEventListener('visibilitychange', () => (document.hidden ? flush() : (left = undefined)));
  addEventListener('pagehide', unloading);
  addEventListener('online', () => {
    retryAt = 0;
    void flush();
  });
  // What an earlier page left in the queue goes out soon.
  schedule(options.flushInterval);

  return {
    push(item) {
      pending.push(item);
      unsent.set(item.id, item);
      if (left) unloading();
      else if (unsent.size >= options.batchSize) void flush();
      else if (!timer) schedule(options.flushInterval);
    },
    write,
    flush,
    async policyChanged() {
      await serial(() => queue.setPersist(policy.persist));
      void flush();
    },
    clear() {
      pending = [];
      unsent = new Map(); // a new map, not emptied: it also stops a send under way (sendAll)
      return serial(() => queue.clear());
    },
  };
}
