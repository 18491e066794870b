// The browser build as the snippet loads it: it replaces the stub with the instance and replays the
// calls recorded before it loaded, in order (tested from dist/, like the stub).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Tagflow, TagflowEvent } from '../core/types';
import type { QueuedCall, SnippetQueue } from './queue';

const iifeSource = readFileSync(join(__dirname, '..', '..', 'dist', 'browser', 'tagflow.min.js'), 'utf8');
type W = Window & { tagflow?: SnippetQueue | Tagflow };

function stub(config: Partial<SnippetQueue['config']>, calls: QueuedCall[]): void {
  (window as W).tagflow = Object.assign(calls, { config: { src: '', ...config } as SnippetQueue['config'] });
}

afterEach(() => {
  delete (window as W).tagflow;
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('dist/browser/tagflow.min.js', () => {
  it('replaces the stub with the instance and replays the recorded calls in order', async () => {
    const batches: TagflowEvent[][] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_url: string, init: { body: string }) => {
        batches.push((JSON.parse(init.body) as { batch: TagflowEvent[] }).batch);
        return new Response('{"accepted":3,"rejected":[]}');
      }),
    );
    stub({ writeKey: 'wk-iife', endpoint: 'https://collect.example.com' }, [['page'], ['track', 'Early Click', { a: 1 }], ['identify', 'u1', { plan: 'pro' }]]);
    new Function(iifeSource)();
    const instance = (window as W).tagflow as Tagflow;
    expect(Array.isArray(instance)).toBe(false);
    await instance.flush();
    expect(batches.flat().map((e) => [e.type, e.event ?? e.userId ?? ''])).toEqual([
      ['page', ''],
      ['track', 'Early Click'],
      ['identify', 'u1'],
    ]);
  });

  it('replays each call with the page it was made on, and calls of stubs that recorded none with the page now', async () => {
    const batches: TagflowEvent[][] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_url: string, init: { body: string }) => {
        batches.push((JSON.parse(init.body) as { batch: TagflowEvent[] }).batch);
        return new Response('{"accepted":4,"rejected":[]}');
      }),
    );
    history.replaceState(null, '', '/product'); // the app routed before the SDK arrived
    document.title = 'Product';
    const list = `${location.origin}/list?utm_source=ad`;
    const at = (call: QueuedCall, href: string, title: string): QueuedCall => Object.assign(call, { href, title });
    stub({ writeKey: 'wk-iife', endpoint: 'https://collect.example.com' }, [at(['page'], list, 'List'), at(['track', 'Product Clicked'], list, 'List'), ['track', 'Old Stub']]);
    new Function(iifeSource)();
    const instance = (window as W).tagflow as Tagflow;
    instance.track('Loaded');
    await instance.flush();
    expect(batches.flat().map((e) => [e.event ?? e.type, e.context.page?.path, e.context.page?.search, e.context.page?.title, e.context.campaign])).toEqual([
      ['page', '/list', '?utm_source=ad', 'List', { source: 'ad' }],
      ['Product Clicked', '/list', '?utm_source=ad', 'List', { source: 'ad' }],
      ['Old Stub', '/product', '', 'Product', undefined],
      ['Loaded', '/product', '', 'Product', undefined],
    ]);
  });

  it('reports a wrong snippet setting on the console instead of throwing, and leaves the stub', () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    stub({ writeKey: '', endpoint: 'https://collect.example.com' }, [['page']]);
    expect(() => new Function(iifeSource)()).not.toThrow();
    expect(error).toHaveBeenCalledWith(expect.objectContaining({ message: 'Tagflow: writeKey is required' }));
    expect(Array.isArray((window as W).tagflow)).toBe(true);
  });
});
