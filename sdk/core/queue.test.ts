import { describe, expect, it, vi } from 'vitest';
import { applyCaps, memoryQueue, switchableQueue, type QueuedEvent } from './queue';

const day = 864e5;
const item = (id: number, t = id): QueuedEvent => ({ t, id: `m${id}`, s: '{}', b: 2 });

describe('applyCaps', () => {
  it('keeps at most 10,000 events by default, dropping the oldest', () => {
    const items = Array.from({ length: 10_050 }, (_, i) => item(i, 1000 + i));
    const { keep, drop } = applyCaps(items, 20_000, 10_000, 7 * day);
    expect(keep).toHaveLength(10_000);
    expect(keep[0]?.id).toBe('m50');
    expect(drop.map((d) => d.id)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
  });

  it('drops events older than 7 days', () => {
    const now = 30 * day;
    const items = [item(1, now - 8 * day), item(2, now - 7 * day), item(3, now - day)];
    const { keep, drop } = applyCaps(items, now, 10_000, 7 * day);
    expect(keep.map((k) => k.id)).toEqual(['m2', 'm3']);
    expect(drop.map((d) => d.id)).toEqual(['m1']);
  });
});

describe('memoryQueue', () => {
  it('adds, lists oldest first and removes', async () => {
    const queue = memoryQueue();
    await queue.add([item(1), item(2)]);
    await queue.add([item(3)]);
    const all = await queue.all();
    await queue.remove(all.slice(0, 2));
    expect((await queue.all()).map((i) => i.id)).toEqual(['m3']);
  });
});

describe('switchableQueue without IndexedDB (happy-dom has none)', () => {
  it('falls back to memory without throwing, and says so in debug', async () => {
    const log = vi.fn();
    const queue = switchableQueue('tagflow-test-fallback', log);
    await queue.add([item(1), item(2)]);
    expect((await queue.all()).map((i) => i.id)).toEqual(['m1', 'm2']);
    expect(log).toHaveBeenCalledWith('IndexedDB error', expect.anything());
    await queue.clear();
    expect(await queue.all()).toEqual([]);
  });

  it('keeps what waits in memory while persistence is off and still has it after switching back on', async () => {
    const queue = switchableQueue('tagflow-test-persist', () => undefined);
    await queue.setPersist(false);
    await queue.add([item(1)]);
    await queue.setPersist(true);
    expect((await queue.all()).map((i) => i.id)).toEqual(['m1']);
  });
});
