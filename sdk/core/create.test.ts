// The instance under happy-dom, with the network replaced by a scripted collector (no IndexedDB here,
// so the queue is in memory). Real-browser delivery is tested in test/browser/.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTagflow } from './create';
import { cookieName, storageKey } from './identity';
import type { PluginApi, TagflowPlugin } from './plugin';
import type { Tagflow, TagflowEvent, TagflowOptions } from './types';
import { consentPlugin } from '../plugins/consent/consent';

interface Sent {
  batch: TagflowEvent[];
  sentAt: string;
  writeKey: string;
}
type Reply = (sent: Sent, call: number) => { status: number; body?: unknown; headers?: Record<string, string> };

/** Replaces fetch with a collector that answers as `reply` says and records every body it got. */
function fakeCollector(reply: Reply = () => ({ status: 200, body: { accepted: 1, rejected: [] } })): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (_url: string, init: { body: string }) => {
      const body = JSON.parse(init.body) as Sent;
      sent.push(body);
      const answer = reply(body, sent.length - 1);
      return new Response(JSON.stringify(answer.body ?? {}), { status: answer.status, headers: answer.headers });
    }),
  );
  return sent;
}

let keys = 0;
/** A new instance with its own write key; the timer never fires during a test, flush() sends. */
function instance(options: Partial<TagflowOptions> = {}): Tagflow {
  return createTagflow({ writeKey: `wk-${++keys}`, endpoint: 'https://collect.example.com', flushInterval: 3_600_000, ...options });
}
const names = (sent: Sent[]) => sent.flatMap((s) => s.batch.map((e) => e.event ?? e.type));

beforeEach(() => {
  localStorage.clear();
  document.cookie = `${cookieName}=;path=/;max-age=0`;
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('createTagflow', () => {
  it('sends track, page, identify, alias and group as Segment Spec events with context, session and identity', async () => {
    const sent = fakeCollector();
    const tagflow = instance();
    tagflow.page('Home', { section: 'top' });
    tagflow.identify('u1', { plan: 'pro' });
    tagflow.track('Product Added', { sku: 'a' });
    tagflow.alias('u2');
    tagflow.group('g1', { seats: 3 });
    await tagflow.flush();
    const [page, identify, track, alias, group] = sent.flatMap((s) => s.batch);
    expect(page).toMatchObject({ type: 'page', name: 'Home', properties: { section: 'top' }, context: { library: { name: 'tagflow' }, page: { path: location.pathname } } });
    expect(page?.context.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(identify).toMatchObject({ type: 'identify', userId: 'u1', traits: { plan: 'pro' }, anonymousId: page?.anonymousId });
    expect(track).toMatchObject({ type: 'track', event: 'Product Added', userId: 'u1', context: { sessionId: page?.context.sessionId } });
    expect(alias).toMatchObject({ type: 'alias', userId: 'u2', previousId: 'u1' });
    expect(group).toMatchObject({ type: 'group', groupId: 'g1', traits: { seats: 3 }, userId: 'u2' });
    expect(sent[0]?.writeKey).toMatch(/^wk-/);
    expect(Date.parse(sent[0]?.sentAt ?? '')).not.toBeNaN();
  });

  it('keeps userId and traits across instances (reloads) and reset() starts a new anonymous id', async () => {
    const sent = fakeCollector();
    const first = instance();
    first.identify('u1', { plan: 'pro' });
    await first.flush();
    const second = instance();
    second.track('After Reload');
    second.reset();
    second.track('After Reset');
    await second.flush();
    const [identify, afterReload, afterReset] = sent.flatMap((s) => s.batch);
    expect(afterReload).toMatchObject({ userId: 'u1', anonymousId: identify?.anonymousId });
    expect(afterReset?.userId).toBeUndefined();
    expect(afterReset?.anonymousId).not.toBe(identify?.anonymousId);
    await Promise.resolve();
    expect(JSON.parse(localStorage.getItem(storageKey) ?? '{}')).toMatchObject({ anonymousId: afterReset?.anonymousId, traits: {} });
  });

  it('batches by count: reaching batchSize sends without waiting for the timer', async () => {
    const sent = fakeCollector();
    const tagflow = instance({ batchSize: 3 });
    tagflow.track('a');
    tagflow.track('b');
    await Promise.resolve();
    expect(sent).toHaveLength(0);
    tagflow.track('c');
    await vi.waitFor(() => expect(names(sent)).toEqual(['a', 'b', 'c']));
  });

  it('batches by time: what waits goes out after flushInterval', async () => {
    const sent = fakeCollector();
    const tagflow = instance({ flushInterval: 20 });
    tagflow.track('timed');
    await vi.waitFor(() => expect(names(sent)).toEqual(['timed']));
  });

  it('batches by bytes: no request carries more than batchBytes', async () => {
    const sent = fakeCollector();
    const tagflow = instance({ batchBytes: 4000 });
    for (let i = 0; i < 6; i++) tagflow.track('sized', { pad: 'x'.repeat(1000) });
    await tagflow.flush();
    expect(sent.length).toBeGreaterThan(1);
    for (const body of sent) expect(JSON.stringify(body).length).toBeLessThanOrEqual(4000);
    expect(names(sent)).toHaveLength(6);
  });

  it('refuses an event over 32 KB with a debug warning and counts it', async () => {
    const sent = fakeCollector();
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const tagflow = instance({ debug: true });
    const pad = 'x'.repeat(8000);
    tagflow.track('Too Big', { a: pad, b: pad, c: pad, d: pad, e: pad });
    tagflow.track('Fine', { huge: 'y'.repeat(100_000) }); // one huge string is cut, not refused
    await tagflow.flush();
    expect(tagflow.dropped.tooLarge).toBe(1);
    expect(names(sent)).toEqual(['Fine']);
    expect(log).toHaveBeenCalledWith('[tagflow]', 'over 32 KB', expect.objectContaining({ event: 'Too Big' }));
  });

  it('sends properties that cannot be serialised as-is made safe, never throwing into the page', async () => {
    const sent = fakeCollector();
    const tagflow = instance();
    const cyclic: Record<string, unknown> = { keep: 1 };
    cyclic.self = cyclic;
    expect(() => tagflow.track('Odd', { cyclic, fn: () => 1, big: 10n, node: document.body })).not.toThrow();
    await tagflow.flush();
    expect(sent[0]?.batch[0]?.properties).toEqual({ cyclic: { keep: 1 }, big: '10' });
  });

  it('refuses an event that cannot be serialised (a throwing getter, toJSON or Proxy) with a debug message saying so, and counts it', async () => {
    const sent = fakeCollector();
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const tagflow = instance({ debug: true });
    const getter = Object.defineProperty({}, 'boom', { enumerable: true, get: () => { throw new Error('getter'); } });
    const proxy = new Proxy({}, { ownKeys: () => { throw new Error('proxy'); } });
    tagflow.track('Getter', getter);
    tagflow.track('ToJSON', { toJSON: () => { throw new Error('toJSON'); } });
    tagflow.track('Proxy', proxy);
    tagflow.track('Fine');
    await tagflow.flush();
    expect(names(sent)).toEqual(['Fine']);
    expect(tagflow.dropped.tooLarge).toBe(3);
    const said = log.mock.calls.filter((call) => call[1] === 'cannot be serialised').map((call) => (call[2] as TagflowEvent).event);
    expect(said).toEqual(['Getter', 'ToJSON', 'Proxy']);
    expect(log.mock.calls.some((call) => call[1] === 'over 32 KB')).toBe(false);
  });

  it('identifies with traits that cannot be serialised without throwing, and persists what can be kept', async () => {
    const sent = fakeCollector();
    const tagflow = instance();
    const traits: Record<string, unknown> = { plan: 'pro', big: 2n };
    traits.self = traits;
    const hostile = Object.defineProperty({}, 'boom', { enumerable: true, get: () => { throw new Error('no'); } });
    expect(() => tagflow.identify('u1', traits)).not.toThrow();
    expect(() => tagflow.identify('u2', hostile as Record<string, unknown>)).not.toThrow();
    await tagflow.flush();
    expect(sent[0]?.batch[0]).toMatchObject({ userId: 'u1', traits: { plan: 'pro', big: '2' } });
    expect(JSON.parse(localStorage.getItem(storageKey) ?? '{}')).toMatchObject({ userId: 'u2', traits: { plan: 'pro', big: '2' } });
  });

  it('drops the oldest events past maxQueueEvents and counts them', async () => {
    const sent = fakeCollector();
    const tagflow = instance({ maxQueueEvents: 3 });
    tagflow.use({ name: 'hold', setup: (api) => api.setPolicy({ send: false }) });
    for (const name of ['1', '2', '3', '4', '5']) tagflow.track(name);
    await tagflow.flush();
    expect(sent).toHaveLength(0);
    let api: PluginApi | undefined;
    tagflow.use({ name: 'release', setup: (given) => void (api = given) });
    api?.setPolicy({ send: true });
    await vi.waitFor(() => expect(names(sent)).toEqual(['3', '4', '5']));
    expect(tagflow.dropped.overCap).toBe(2);
  });

  it('drops events older than maxQueueAge and counts them', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
    const sent = fakeCollector();
    const tagflow = instance();
    let api: PluginApi | undefined;
    tagflow.use({ name: 'hold', setup: (given) => void (api = given) });
    api?.setPolicy({ send: false });
    tagflow.track('old');
    vi.setSystemTime(new Date('2026-01-09T00:00:00Z')); // 8 days later
    tagflow.track('new');
    api?.setPolicy({ send: true });
    await vi.waitFor(() => expect(names(sent)).toEqual(['new']));
    expect(tagflow.dropped.overCap).toBe(1);
  });
});

describe('identify and alias with ids the collector would refuse', () => {
  // Each of these, kept as the user id, had every later event quarantined, also after reloads.
  const refused: [string, unknown][] = [
    ['101 characters', 'u'.repeat(101)],
    ['an unsafe integer', 12345678901234567891],
    ['a fraction', 1.5],
    ['a boolean', true],
  ];

  it.each(refused)('keeps the current user id for %s, records the traits and logs the value', async (_, bad) => {
    const sent = fakeCollector();
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const first = instance({ debug: true });
    first.identify('u1');
    (first.identify as (id: unknown, traits?: object) => void)(bad, { plan: 'pro' });
    first.track('After');
    await first.flush();
    const second = instance(); // a reload
    second.track('After Reload');
    await second.flush();
    const [, identify, after, afterReload] = sent.flatMap((s) => s.batch);
    expect(log).toHaveBeenCalledWith('[tagflow]', 'invalid userId:', bad);
    expect(identify).toMatchObject({ type: 'identify', userId: 'u1' });
    for (const event of [after, afterReload]) expect(event?.userId).toBe('u1');
    expect(JSON.parse(localStorage.getItem(storageKey) ?? '{}')).toMatchObject({ userId: 'u1' });
    expect(identify?.traits).toEqual({ plan: 'pro' });
  });

  it('takes a safe integer, as a string, and a string of 100 characters', async () => {
    const sent = fakeCollector();
    const tagflow = instance();
    tagflow.identify(12345, { plan: 'pro' });
    tagflow.track('As Number');
    tagflow.identify('u'.repeat(100));
    tagflow.track('As Long String');
    await tagflow.flush();
    expect(sent.flatMap((s) => s.batch).map((e) => e.userId)).toEqual(['12345', '12345', 'u'.repeat(100), 'u'.repeat(100)]);
  });

  it('identify(traits), as in Segment, records the traits for the current user', async () => {
    const sent = fakeCollector();
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const tagflow = instance({ debug: true });
    tagflow.identify('u1', { plan: 'pro' });
    tagflow.identify({ email: 'a@example.com' });
    tagflow.identify(null, { seats: 3 });
    tagflow.identify('', { seats: 4 }); // '' is no id: not an invalid one
    tagflow.track('After');
    await tagflow.flush();
    const [, byTraits, byNull, byEmpty, after] = sent.flatMap((s) => s.batch);
    expect(byTraits).toMatchObject({ type: 'identify', userId: 'u1', traits: { email: 'a@example.com' } });
    expect(byNull).toMatchObject({ type: 'identify', userId: 'u1', traits: { seats: 3 } });
    expect(byEmpty).toMatchObject({ type: 'identify', userId: 'u1', traits: { seats: 4 } });
    expect(after?.userId).toBe('u1');
    expect(JSON.parse(localStorage.getItem(storageKey) ?? '{}')).toMatchObject({ userId: 'u1', traits: { plan: 'pro', email: 'a@example.com', seats: 4 } });
    expect(log.mock.calls.filter((call) => call[1] === 'invalid userId:')).toEqual([]);
  });

  it('alias with an id the collector would refuse sends nothing, keeps the current user id and logs the value', async () => {
    const sent = fakeCollector();
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const tagflow = instance({ debug: true });
    tagflow.identify('u1');
    (tagflow.alias as (id: unknown) => void)({ email: 'a@example.com' });
    tagflow.alias('u'.repeat(101));
    tagflow.track('After');
    tagflow.alias(7);
    await tagflow.flush();
    const events = sent.flatMap((s) => s.batch);
    // identify, track, alias(7): no alias to the same user, which the collector would store as u1 → u1.
    expect(events.map((e) => [e.type, e.userId])).toEqual([['identify', 'u1'], ['track', 'u1'], ['alias', '7']]);
    expect(events.at(-1)).toMatchObject({ type: 'alias', userId: '7', previousId: 'u1' });
    expect(log.mock.calls.filter((call) => call[1] === 'invalid userId:').map((call) => call[2])).toEqual([{ email: 'a@example.com' }, 'u'.repeat(101)]);
  });
});

describe('delivery answers', () => {
  it('retries a 503 no sooner than its Retry-After, then delivers once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const sent = fakeCollector((_sent, call) => (call === 0 ? { status: 503, headers: { 'Retry-After': '2' } } : { status: 200, body: { accepted: 2, rejected: [] } }));
    const tagflow = instance();
    tagflow.track('a');
    tagflow.track('b');
    await tagflow.flush();
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1990);
    await tagflow.flush(); // an explicit flush does not jump the backoff
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(20);
    await vi.waitFor(() => expect(sent).toHaveLength(2));
    expect(names(sent)).toEqual(['a', 'b', 'a', 'b']);
    await tagflow.flush();
    expect(sent).toHaveLength(2); // acknowledged: nothing left
  });

  it('retries network errors and 429 with growing backoff', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const statuses = [0, 429, 500, 200];
    const at: number[] = [];
    const sent = fakeCollector((_s, call) => {
      at.push(Date.now());
      if (statuses[call] === 0) throw new TypeError('Failed to fetch');
      return { status: statuses[call] ?? 200 };
    });
    const tagflow = instance();
    tagflow.track('flaky');
    await tagflow.flush();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sent).toHaveLength(4);
    // full jitter at 0.5: 500 ms, then 1 s, then 2 s
    expect(at.slice(1).map((t, i) => t - (at[i] ?? 0))).toEqual([500, 1000, 2000]);
  });

  it('splits a batch the collector finds too large (413) and delivers every event once', async () => {
    const sent = fakeCollector((body) => (body.batch.length > 2 ? { status: 413 } : { status: 200, body: { accepted: body.batch.length, rejected: [] } }));
    const tagflow = instance();
    for (const name of ['1', '2', '3', '4', '5']) tagflow.track(name);
    await tagflow.flush();
    const delivered = sent.filter((s) => s.batch.length <= 2).flatMap((s) => s.batch.map((e) => e.event));
    expect(delivered).toEqual(['1', '2', '3', '4', '5']);
  });

  it('drops a single event the collector always finds too large, counted, without looping', async () => {
    const sent = fakeCollector(() => ({ status: 413 }));
    const tagflow = instance();
    tagflow.track('lonely');
    await tagflow.flush();
    await tagflow.flush();
    expect(sent).toHaveLength(1);
    expect(tagflow.dropped.rejected).toBe(1);
  });

  it('on a 400 that names invalid events drops only those, counted and logged with the reasons, and never loops', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const sent = fakeCollector((body, call) =>
      call === 0 ? { status: 400, body: { error: 'no_valid_events', rejected: [{ index: 1, reason: 'track needs an event name' }] } } : { status: 200, body: { accepted: body.batch.length, rejected: [] } },
    );
    const tagflow = instance({ debug: true });
    for (const name of ['a', 'b', 'c']) tagflow.track(name);
    await tagflow.flush();
    expect(sent.map((s) => s.batch.map((e) => e.event))).toEqual([['a', 'b', 'c'], ['a', 'c']]);
    expect(tagflow.dropped.rejected).toBe(1);
    expect(log).toHaveBeenCalledWith('[tagflow]', 'sent', 3, expect.objectContaining({ status: 400, rejected: [{ index: 1, reason: 'track needs an event name' }] }));
  });

  it('counts events the collector accepted the batch of but refused (200 with rejected)', async () => {
    fakeCollector(() => ({ status: 200, body: { accepted: 1, rejected: [{ index: 0, reason: 'x' }] } }));
    const tagflow = instance();
    tagflow.track('a');
    tagflow.track('b');
    await tagflow.flush();
    expect(tagflow.dropped.rejected).toBe(1);
  });

  it('drops a batch refused by a 4xx that names nothing (e.g. a wrong write key) instead of retrying forever', async () => {
    const sent = fakeCollector(() => ({ status: 401, body: { error: 'unknown_write_key' } }));
    const tagflow = instance();
    tagflow.track('a');
    await tagflow.flush();
    await tagflow.flush();
    expect(sent).toHaveLength(1);
    expect(tagflow.dropped.rejected).toBe(1);
  });

  it('waits while offline and sends on the online event', async () => {
    const sent = fakeCollector();
    const onLine = vi.spyOn(navigator, 'onLine', 'get').mockReturnValue(false);
    const tagflow = instance();
    tagflow.track('offline');
    await tagflow.flush();
    expect(sent).toHaveLength(0);
    onLine.mockReturnValue(true);
    window.dispatchEvent(new Event('online'));
    await vi.waitFor(() => expect(names(sent)).toContain('offline'));
  });

  it('sends what waits with a keepalive fetch when the page becomes hidden', async () => {
    const sent = fakeCollector();
    const tagflow = instance();
    tagflow.track('tab switched');
    const hidden = vi.spyOn(document, 'hidden', 'get').mockReturnValue(true);
    // Browsers fire it at the document and it bubbles to window, where the SDK listens.
    window.dispatchEvent(new Event('visibilitychange'));
    await vi.waitFor(() => expect(names(sent)).toContain('tab switched'));
    expect(vi.mocked(fetch).mock.calls.at(-1)?.[1]).toMatchObject({ keepalive: true });
    hidden.mockRestore();
    void tagflow;
  });

  it('hands unacknowledged events to sendBeacon when the page unloads, once, as a text body', async () => {
    fakeCollector(() => ({ status: 503 })); // nothing acknowledged
    const beacon = vi.spyOn(navigator, 'sendBeacon').mockImplementation(() => true);
    const tagflow = instance();
    tagflow.track('leaving');
    window.dispatchEvent(new Event('pagehide'));
    window.dispatchEvent(new Event('pagehide'));
    const mine = beacon.mock.calls.filter(([, body]) => String(body).includes('"leaving"'));
    expect(mine).toHaveLength(1);
    expect(mine[0]?.[0]).toBe('https://collect.example.com/v1/batch');
    expect(typeof mine[0]?.[1]).toBe('string');
    void tagflow;
  });

  it('beacons an event tracked after pagehide (by a later listener) on its own, and batches again once the page is shown', async () => {
    const sent = fakeCollector();
    const beacon = vi.spyOn(navigator, 'sendBeacon').mockImplementation(() => true);
    const beaconed = () => beacon.mock.calls.map(([, body]) => (JSON.parse(String(body)) as Sent).batch.map((e) => e.event)).filter((b) => b.some((e) => e?.startsWith('hide ')));
    const tagflow = instance();
    tagflow.track('hide before');
    // The page's own listener, after the SDK's: it runs once the SDK's beacon has gone.
    const late = () => tagflow.track('hide late');
    addEventListener('pagehide', late);
    window.dispatchEvent(new Event('pagehide'));
    removeEventListener('pagehide', late);
    expect(beaconed()).toEqual([['hide before'], ['hide late']]);

    // Back from the back/forward cache (the page becomes visible again): no more beacon per event.
    window.dispatchEvent(new Event('visibilitychange'));
    tagflow.track('hide after');
    await tagflow.flush();
    expect(beaconed()).toHaveLength(2);
    expect(names(sent)).toContain('hide after');
  });
});

describe('plugins', () => {
  it('let beforeQueue change or drop events, and afterQueue see what was queued', async () => {
    const sent = fakeCollector();
    const seen: string[] = [];
    const tagflow = instance();
    tagflow.use({
      name: 'enrich',
      beforeQueue: (event) => (event.event === 'secret' ? null : { ...event, properties: { ...event.properties, enriched: true } }),
      afterQueue: (event) => void seen.push(String(event.event)),
    });
    tagflow.track('secret');
    tagflow.track('public');
    await tagflow.flush();
    expect(names(sent)).toEqual(['public']);
    expect(sent[0]?.batch[0]?.properties).toEqual({ enriched: true });
    expect(seen).toEqual(['public']);
  });

  it('keep the event as it was when beforeQueue returns something that is not an event, with a debug message naming the plugin', async () => {
    const sent = fakeCollector();
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const tagflow = instance({ debug: true });
    const returns: unknown[] = [true, 1, 'event', {}, [1]];
    returns.forEach((value, i) => tagflow.use({ name: `odd-${i}`, beforeQueue: () => value as TagflowEvent }));
    tagflow.use({ name: 'mutates', beforeQueue: (event) => void (event.context.seen = true) as unknown as TagflowEvent }); // returns nothing: kept
    tagflow.track('Kept', { i: 1 });
    await tagflow.flush();
    expect(sent[0]?.batch).toEqual([expect.objectContaining({ type: 'track', event: 'Kept', properties: { i: 1 }, messageId: expect.any(String), context: expect.objectContaining({ seen: true }) })]);
    expect(log.mock.calls.filter((call) => call[2] === 'beforeQueue returned').map((call) => [call[1], call[3]])).toEqual(returns.map((value, i) => [`odd-${i}`, value]));
  });

  it('drop the event when beforeQueue returns null or false', async () => {
    const sent = fakeCollector();
    const tagflow = instance();
    tagflow.use({ name: 'drops', beforeQueue: (event) => (event.event === 'Null' ? null : event.event === 'False' ? (false as unknown as null) : event) });
    for (const name of ['Null', 'False', 'Kept']) tagflow.track(name);
    await tagflow.flush();
    expect(names(sent)).toEqual(['Kept']);
  });

  it('enqueue keeps messageId and timestamp and skips the calling plugin’s own beforeQueue, not the others’', async () => {
    const sent = fakeCollector();
    const tagflow = instance();
    let api: PluginApi | undefined;
    const own = vi.fn((event: TagflowEvent) => event);
    tagflow.use({ name: 'emitter', setup: (given) => void (api = given), beforeQueue: own });
    tagflow.use({ name: 'other', beforeQueue: (event) => ({ ...event, context: { ...event.context, tagged: 'other' } }) });
    const built: TagflowEvent = { type: 'track', event: 'From Plugin', messageId: 'fixed-id', anonymousId: 'a', timestamp: '2026-01-01T00:00:00.000Z', context: { library: { name: 'x', version: '1' } } };
    api?.enqueue(built);
    await tagflow.flush();
    expect(own).not.toHaveBeenCalled();
    expect(sent[0]?.batch[0]).toMatchObject({ messageId: 'fixed-id', timestamp: '2026-01-01T00:00:00.000Z', context: { tagged: 'other' } });
  });

  it('setContext adds a key to every later event and removes it with undefined', async () => {
    const sent = fakeCollector();
    const tagflow = instance();
    let api: PluginApi | undefined;
    tagflow.use({ name: 'consent-like', setup: (given) => void (api = given) });
    api?.setContext('consent', { categoryPreferences: { analytics: true } });
    tagflow.track('with');
    api?.setContext('consent', undefined);
    tagflow.track('without');
    await tagflow.flush();
    const [withConsent, without] = sent.flatMap((s) => s.batch);
    expect(withConsent?.context.consent).toEqual({ categoryPreferences: { analytics: true } });
    expect(without?.context).not.toHaveProperty('consent');
  });

  it('with persist:false writes nothing to the device, and switching it on writes what waits', async () => {
    fakeCollector();
    const tagflow = instance();
    let api: PluginApi | undefined;
    tagflow.use({ name: 'consent-like', setup: (given) => (api = given).setPolicy({ persist: false }) });
    tagflow.identify('u1');
    tagflow.track('private');
    await tagflow.flush();
    expect(localStorage.length).toBe(0);
    expect(document.cookie).not.toMatch(/tf_aid=[0-9a-f]/);
    api?.setPolicy({ persist: true });
    expect(JSON.parse(localStorage.getItem(storageKey) ?? '{}')).toMatchObject({ userId: 'u1' });
    expect(document.cookie).toMatch(/tf_aid=[0-9a-f-]{36}/);
  });

  it('with send:false sends nothing until allowed; clearQueue drops what waits', async () => {
    const sent = fakeCollector();
    const tagflow = instance();
    let api: PluginApi | undefined;
    tagflow.use({ name: 'gate', setup: (given) => (api = given).setPolicy({ send: false }) });
    tagflow.track('held');
    await tagflow.flush();
    expect(sent).toHaveLength(0);
    await api?.clearQueue();
    tagflow.track('after clear');
    api?.setPolicy({ send: true });
    await vi.waitFor(() => expect(names(sent)).toEqual(['after clear']));
  });

  it('erase() removes the stored identity, drops what waits, runs every plugin\'s erase hook and starts a new anonymous id', async () => {
    const sent = fakeCollector();
    const tagflow = instance();
    let api: PluginApi | undefined;
    const erased: string[] = [];
    tagflow.use({ name: 'consent-like', setup: (given) => void (api = given) });
    tagflow.use({ name: 'throws', erase: () => { throw new Error('erase failed'); } });
    tagflow.use({ name: 'owner', erase: () => void erased.push('owner') });
    tagflow.identify('u1', { email: 'a@example.com' });
    await tagflow.flush();
    const [before] = sent.flatMap((s) => s.batch);
    expect(document.cookie).toContain(`${cookieName}=${before?.anonymousId}`);

    tagflow.track('queued, never sent');
    api?.setPolicy({ persist: false });
    await api?.erase();
    expect(erased).toEqual(['owner']); // a throwing hook stops no other
    expect(document.cookie).not.toMatch(/tf_aid=[0-9a-f]/); // happy-dom keeps an expired cookie as `tf_aid=`
    expect(localStorage.getItem(storageKey)).toBeNull();
    tagflow.track('after erase');
    await tagflow.flush();
    const after = sent.slice(1).flatMap((s) => s.batch);
    expect(names(sent.slice(1))).toEqual(['after erase']);
    expect(after[0]?.anonymousId).not.toBe(before?.anonymousId);
    expect(after[0]).not.toHaveProperty('userId');
    expect(after[0]?.context.sessionId).not.toBe(before?.context.sessionId);
    expect(document.cookie).not.toMatch(/tf_aid=[0-9a-f]/); // persistence is off: nothing written back
    api?.setPolicy({ persist: true });
    expect(document.cookie).toContain(`${cookieName}=${after[0]?.anonymousId}`);
  });

  it('a withdrawal during a send stops it: the batches still waiting with the old ids never go out (cookieless)', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sent = fakeCollector();
    const answer = vi.mocked(fetch).getMockImplementation()!;
    vi.mocked(fetch).mockImplementationOnce(async (...args) => (await gate, answer(...args))); // the first batch hangs
    const tagflow = instance({ batchSize: 2 });
    const consent = consentPlugin({ mode: 'cookieless' });
    tagflow.use(consent);
    consent.set({ analytics: true });
    for (let n = 1; n <= 5; n++) tagflow.track(`Granted ${n}`);
    const sending = tagflow.flush();
    await vi.waitFor(() => expect(fetch).toHaveBeenCalledTimes(1));
    consent.set({ analytics: false });
    tagflow.track('Withdrawn');
    release();
    await sending;
    await tagflow.flush();
    const [first, ...later] = sent;
    const old = first?.batch[0]?.anonymousId;
    expect(later.flatMap((s) => s.batch.map((e) => e.event))).toEqual(['Consent Updated', 'Withdrawn']);
    for (const event of later.flatMap((s) => s.batch)) expect(event.anonymousId).not.toBe(old);
  });

  it('refuses a second plugin of the same name and survives hooks that throw', async () => {
    const sent = fakeCollector();
    const tagflow = instance();
    const second = vi.fn();
    const broken: TagflowPlugin = {
      name: 'broken',
      setup: () => {
        throw new Error('setup failed');
      },
      beforeQueue: () => {
        throw new Error('hook failed');
      },
      afterQueue: () => {
        throw new Error('hook failed');
      },
    };
    expect(() => tagflow.use(broken)).not.toThrow();
    tagflow.use({ name: 'broken', setup: second });
    expect(second).not.toHaveBeenCalled();
    expect(() => tagflow.track('still works')).not.toThrow();
    await tagflow.flush();
    expect(names(sent)).toEqual(['still works']);
  });

  it('refuses what is not a plugin with a debug message, and takes plugins after it', async () => {
    const logged = vi.spyOn(console, 'log').mockImplementation(() => {});
    const sent = fakeCollector();
    const tagflow = instance({ debug: true });
    for (const notPlugin of [null, undefined, 'page', { setup: vi.fn() }]) {
      expect(() => tagflow.use(notPlugin as unknown as TagflowPlugin)).not.toThrow();
    }
    const setup = vi.fn();
    expect(() => tagflow.use({ name: 'after', setup })).not.toThrow();
    expect(setup).toHaveBeenCalledOnce();
    tagflow.track('still works');
    await tagflow.flush();
    expect(names(sent)).toEqual(['still works']);
    expect(logged.mock.calls.filter((call) => call.includes('plugin refused:'))).toHaveLength(4);
  });
});

// Two instances in one document share its cookie and localStorage, as two tabs of a site do.
describe('createTagflow with several tabs', () => {
  it('a login in one tab is on the other tab’s next event, and a logout there is not undone by it', async () => {
    const sent = fakeCollector();
    const a = instance();
    const b = instance();
    a.identify('alice');
    await a.flush(); // saved
    b.track('B After Login');
    b.alias('alice-2');
    await b.flush();
    a.reset();
    await a.flush();
    b.track('B After Logout');
    await b.flush();
    const [login, afterLogin, alias, afterLogout] = sent.flatMap((s) => s.batch);
    expect(afterLogin).toMatchObject({ anonymousId: login?.anonymousId, userId: 'alice' });
    expect(alias).toMatchObject({ previousId: 'alice', userId: 'alice-2' });
    expect(afterLogout?.anonymousId).not.toBe(login?.anonymousId);
    expect(afterLogout).not.toHaveProperty('userId');
    expect(JSON.parse(localStorage.getItem(storageKey) ?? '{}')).toMatchObject({ anonymousId: afterLogout?.anonymousId });
  });

  it('events held for consent in two tabs (hold) are one visitor once it is granted', async () => {
    const sent = fakeCollector();
    const a = instance();
    const consentA = consentPlugin({ mode: 'hold' });
    a.use(consentA);
    const b = instance();
    const consentB = consentPlugin({ mode: 'hold' });
    b.use(consentB);
    a.track('Held in A');
    b.track('Held in B'); // each tab has its own anonymous id: nothing may be stored yet
    consentA.set({ analytics: true });
    consentB.set({ analytics: true }); // in a browser b learns of it from a storage event; the same happens
    a.track('After in A');
    b.track('After in B');
    await a.flush();
    await b.flush();
    const events = sent.flatMap((s) => s.batch);
    expect(events.map((e) => e.event).sort()).toEqual(['After in A', 'After in B', 'Consent Updated', 'Consent Updated', 'Held in A', 'Held in B']);
    expect(new Set(events.map((e) => e.anonymousId))).toEqual(new Set([JSON.parse(localStorage.getItem(storageKey) ?? '{}').anonymousId]));
  });
});
