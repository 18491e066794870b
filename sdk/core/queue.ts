// The queue of unsent events: IndexedDB so it survives reloads and restarts and is shared by the tabs
// of a site; memory where IndexedDB is missing or broken, or while persistence is off.

/** One queued event: serialised once, when it is queued. */
export interface QueuedEvent {
  /** Queued at, ms, plus a thousandth per event queued before it (see createTagflow). IndexedDB keys start with it, so reads come in queue order. */
  t: number;
  /** The event's messageId. */
  id: string;
  /** The event as JSON. */
  s: string;
  /** UTF-8 bytes of `s`. */
  b: number;
}

export interface QueueStore {
  add(items: QueuedEvent[]): Promise<unknown>;
  /** Every queued event, oldest first. */
  all(): Promise<QueuedEvent[]>;
  remove(items: QueuedEvent[]): Promise<unknown>;
}

export function memoryQueue(): QueueStore {
  let items: QueuedEvent[] = [];
  return {
    add: async (added) => (items = items.concat(added)),
    all: async () => items, // never changed in place (add and remove replace it): safe to hand out
    remove: async (removed) => (items = items.filter((item) => !removed.includes(item))),
  };
}

const done = <T>(request: IDBRequest<T> | IDBTransaction) =>
  new Promise<T>((resolve, reject) => {
    (request as IDBRequest).onsuccess = (request as IDBTransaction).oncomplete = () => resolve((request as IDBRequest<T>).result);
    request.onerror = (request as IDBTransaction).onabort = () => reject(request.error);
  });

/** The queue in the IndexedDB database `name` (one object store, keys [queuedAt, messageId]). */
export function indexedDbQueue(name: string): QueueStore {
  let db: Promise<IDBDatabase> | undefined;
  const open = () => {
    const request = indexedDB.open(name);
    request.onupgradeneeded = () => request.result.createObjectStore('q');
    return done(request);
  };
  const store = async (mode?: IDBTransactionMode) => (await (db ??= open())).transaction('q', mode).objectStore('q');
  const write = async (fill: (store: IDBObjectStore) => unknown) => {
    const writable = await store('readwrite');
    fill(writable);
    return done(writable.transaction);
  };
  return {
    add: (items) => write((store) => items.map((item) => store.put(item, [item.t, item.id]))),
    all: async () => done((await store()).getAll()),
    remove: (items) => write((store) => items.map((item) => store.delete([item.t, item.id]))),
  };
}

/** Splits the queue into what is kept and what is past the caps: older than `maxAge`, or the oldest beyond `maxEvents`. */
export function applyCaps(items: QueuedEvent[], now: number, maxEvents: number, maxAge: number): { keep: QueuedEvent[]; drop: QueuedEvent[] } {
  const keep = items.filter((item) => now - item.t <= maxAge).slice(-maxEvents);
  const kept = new Set(keep);
  return { keep, drop: items.filter((item) => !kept.has(item)) };
}

export interface SwitchableQueue extends QueueStore {
  /** Empties memory and IndexedDB. */
  clear(): Promise<unknown>;
  /** Persistence on: IndexedDB (what waits in memory is moved there); off: memory only. */
  setPersist(on: boolean): Promise<void>;
}

/**
 * IndexedDB while it works and persistence is allowed, memory otherwise. A failing IndexedDB, or one
 * that does not answer within 5 s (some private modes), switches to memory for good, without throwing.
 */
export function switchableQueue(name: string, log: (...args: unknown[]) => void): SwitchableQueue {
  const memory = memoryQueue();
  /**
   * IndexedDB from its first use with persistence on (none before: clearing creates no database that was
   * not there); memory once it failed. A missing or throwing indexedDB fails that first operation.
   */
  let disk: QueueStore | undefined;
  let persist = true;
  const run = <K extends keyof QueueStore>(method: K, items?: QueuedEvent[]): ReturnType<QueueStore[K]> => {
    const store = persist ? (disk ??= indexedDbQueue(name)) : memory;
    return (
      store != memory
        ? Promise.race([store[method](items as QueuedEvent[]), new Promise((_, reject) => setTimeout(reject, 5000, 'timeout'))]).catch((error: unknown) => {
            log('IndexedDB error', error);
            disk = memory;
            return memory[method](items as QueuedEvent[]);
          })
        : memory[method](items as QueuedEvent[])
    ) as ReturnType<QueueStore[K]>;
  };
  return {
    add: (items) => run('add', items),
    all: () => run('all'),
    remove: (items) => run('remove', items),
    clear: () => Promise.all([memory, disk].map(async (store) => store?.remove(await store.all()))),
    async setPersist(on) {
      persist = on;
      if (on) {
        // Moved, not copied: if IndexedDB fails now, `run` puts them back in memory.
        const waiting = await memory.all();
        await memory.remove(waiting);
        await run('add', waiting);
      }
    },
  };
}
