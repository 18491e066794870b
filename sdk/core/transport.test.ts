import { afterEach, describe, expect, it, vi } from 'vitest';
import { outcomeOf, postBatch, type SendResult } from './transport';

const batch = ['a', 'b', 'c'];
const result = (status: number, indexes: number[] = []): SendResult => ({ status, rejected: indexes.map((index) => ({ index, reason: 'x' })) });

describe('outcomeOf', () => {
  it('retries network errors, 408, 429 and 5xx', () => {
    for (const status of [0, 408, 429, 500, 502, 503]) expect(outcomeOf(result(status), batch)).toBe('retry');
  });

  it('splits on 413', () => {
    expect(outcomeOf(result(413), batch)).toBe('split');
  });

  it('drops a single event the collector finds too large (413): it cannot be split', () => {
    expect(outcomeOf(result(413), ['a'])).toEqual(['a']);
  });

  it('removes the whole batch on 2xx, even with some events refused (they are quarantined server-side)', () => {
    expect(outcomeOf(result(200, [1]), batch)).toEqual(batch);
  });

  it('on another 4xx removes only the events the collector names, or all when it names none', () => {
    expect(outcomeOf(result(400, [1]), batch)).toEqual(['b']);
    expect(outcomeOf(result(400, [0, 2, 9]), batch)).toEqual(['a', 'c']);
    expect(outcomeOf(result(400), batch)).toEqual(batch);
    expect(outcomeOf(result(401), batch)).toEqual(batch);
  });

  it('reads the refusals of an odd answer without throwing (null entries, no index)', () => {
    expect(outcomeOf({ status: 400, rejected: [null, { index: 2 }, {} as { index: number }] }, batch)).toEqual(['c']);
  });
});

describe('postBatch', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  it('posts with keepalive and reads the status, Retry-After and the refusals with their reasons', async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({ accepted: 1, rejected: [{ index: 1, reason: 'x' }] }), { status: 200, headers: { 'Retry-After': '3' } }));
    vi.stubGlobal('fetch', fetch);
    expect(await postBatch('https://c.example.com/v1/batch', '{}', true)).toEqual({ status: 200, retryAfter: '3', rejected: [{ index: 1, reason: 'x' }] });
    expect(fetch).toHaveBeenCalledWith('https://c.example.com/v1/batch', { method: 'POST', body: '{}', keepalive: true, signal: expect.any(AbortSignal) });
  });

  it('abandons a request left unanswered for 30 s, so the batch is retried and the send lock released', async () => {
    vi.useFakeTimers();
    // Like a collector that accepts the connection and never answers: settles only when aborted.
    const hung = vi.fn((_url: string, init: RequestInit) => new Promise<Response>((_, reject) => init.signal?.addEventListener('abort', () => reject(init.signal?.reason))));
    vi.stubGlobal('fetch', hung);
    const sent = postBatch('https://c.example.com/v1/batch', '{}', false);
    await vi.advanceTimersByTimeAsync(29_999);
    await expect(Promise.race([sent, Promise.resolve('pending')])).resolves.toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(hung.mock.calls[0]![1].signal?.aborted).toBe(true);
    const result = await Promise.race([sent, Promise.resolve('still pending')]);
    expect(result).toEqual({ status: 0, rejected: [] });
    expect(outcomeOf(result as SendResult, batch)).toBe('retry');
  });

  it('leaves a request answered within the 30 s alone', async () => {
    vi.useFakeTimers();
    let abortedWhenAnswered: boolean | undefined;
    // A slow collector: answers after 29 s.
    const slow = vi.fn(async (_url: string, init: RequestInit) => {
      await new Promise((resolve) => setTimeout(resolve, 29_000));
      abortedWhenAnswered = init.signal?.aborted;
      return new Response(JSON.stringify({ accepted: 0, rejected: [{ index: 0 }] }), { status: 400 });
    });
    vi.stubGlobal('fetch', slow);
    const sent = postBatch('https://c.example.com/v1/batch', '{}', false);
    await vi.advanceTimersByTimeAsync(29_000);
    expect(abortedWhenAnswered).toBe(false);
    await expect(Promise.race([sent, Promise.resolve('pending')])).resolves.toEqual({ status: 400, retryAfter: null, rejected: [{ index: 0 }] });
    expect(outcomeOf(await sent, batch)).toEqual(['a']);
  });

  it('turns a network error into status 0 and an unreadable answer into no refusals', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    expect(await postBatch('https://c.example.com/v1/batch', '{}', false)).toEqual({ status: 0, rejected: [] });
    vi.stubGlobal('fetch', vi.fn(async () => new Response('<html>', { status: 502 })));
    expect(await postBatch('https://c.example.com/v1/batch', '{}', false)).toMatchObject({ status: 502, rejected: [] });
  });
});
