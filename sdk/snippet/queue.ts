import type { Tagflow, TagflowOptions } from '../core/types';

// The shape shared by the stub (which fills it) and the IIFE entries (which replay it).

/** One recorded call: method name, then its arguments. */
export type QueuedCall = [method: string, ...args: unknown[]];

/** window.tagflow before the SDK has loaded: an array of calls plus the snippet's settings. */
export interface SnippetQueue extends Array<QueuedCall> {
  config: TagflowOptions & { src: string };
}

/** Calls the instance's methods in the order the page called the stub's (unknown methods are skipped). */
export function replay(instance: Tagflow, calls: QueuedCall[]): void {
  for (const [method, ...args] of calls) (instance[method as keyof Tagflow] as ((...a: unknown[]) => unknown) | undefined)?.(...args);
}
