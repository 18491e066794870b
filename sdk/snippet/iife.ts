// Entry of the browser build (dist/browser/tagflow.min.js) that the snippet loads: it creates the
// instance from the snippet's settings, replaces the stub with it and replays the queued calls in order.
import { createTagflow } from '../core/create';
import type { Tagflow } from '../core/types';
import type { QueuedCall, SnippetQueue } from './queue';

type Method = keyof Tagflow;

function replay(instance: Tagflow, calls: QueuedCall[]): void {
  for (const [method, ...args] of calls) {
    const fn = instance[method as Method] as ((...a: unknown[]) => unknown) | undefined;
    if (typeof fn === 'function') fn(...args);
  }
}

const w = window as Window & { tagflow?: SnippetQueue | Tagflow };
const stub = w.tagflow;
if (Array.isArray(stub) && stub.config) {
  try {
    const instance = createTagflow({ writeKey: stub.config.writeKey, endpoint: stub.config.endpoint });
    w.tagflow = instance;
    replay(instance, stub.slice());
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
  }
}
