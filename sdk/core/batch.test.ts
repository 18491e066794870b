import { describe, expect, it } from 'vitest';
import { batchBody, takeBatch } from './batch';
import type { QueuedEvent } from './queue';

const item = (id: string, bytes: number): QueuedEvent => ({ t: 0, id, s: JSON.stringify({ messageId: id }), b: bytes });
const ids = (items: QueuedEvent[]) => items.map((i) => i.id);

describe('takeBatch', () => {
  const queue = ['a', 'b', 'c', 'd', 'e'].map((id) => item(id, 100));

  it('takes the oldest events up to the count limit', () => {
    expect(ids(takeBatch(queue, 3, 60_000))).toEqual(['a', 'b', 'c']);
    expect(ids(takeBatch(queue, 20, 60_000))).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('stops before the byte limit, counting the envelope and separators', () => {
    // 200 bytes of envelope + 101 per event: three fit in 503, not in 502
    expect(ids(takeBatch(queue, 20, 503))).toEqual(['a', 'b', 'c']);
    expect(ids(takeBatch(queue, 20, 502))).toEqual(['a', 'b']);
  });

  it('always takes at least one event, even one over the limits, so the queue never stalls', () => {
    expect(ids(takeBatch([item('big', 100_000), item('x', 1)], 20, 60_000))).toEqual(['big']);
    expect(ids(takeBatch(queue, 0, 60_000))).toEqual(['a']);
    expect(takeBatch([], 20, 60_000)).toEqual([]);
  });
});

describe('batchBody', () => {
  it('writes the Segment batch body with sentAt and the write key', () => {
    const body = batchBody([item('a', 1), item('b', 1)], 'w"k', new Date('2026-01-01T00:00:00.000Z'));
    expect(JSON.parse(body)).toEqual({ batch: [{ messageId: 'a' }, { messageId: 'b' }], sentAt: '2026-01-01T00:00:00.000Z', writeKey: 'w"k' });
  });
});
