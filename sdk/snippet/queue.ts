import { replaying } from '../core/context';
import type { Tagflow, TagflowOptions } from '../core/types';

// The shape shared by the stub (which fills it) and the IIFE entries (which replay it).

/**
 * One recorded call: method name, then its arguments; the stub adds the page's URL and title at the
 * time of the call (stubs pasted before it did not: their calls get the page at replay).
 */
export type QueuedCall = [method: string, ...args: unknown[]] & { href?: string; title?: string };

/** window.tagflow before the SDK has loaded: an array of calls plus the snippet's settings. */
export interface SnippetQueue extends Array<QueuedCall> {
  config: TagflowOptions & { src: string };
}

/**
 * Calls the instance's methods in the order the page called the stub's (unknown methods are skipped),
 * each in the context of the page it was called on.
 */
export function replay(instance: Tagflow, calls: QueuedCall[]): void {
  for (const call of calls) {
    replaying(call);
    (instance[call[0] as keyof Tagflow] as ((...a: unknown[]) => unknown) | undefined)?.(...call.slice(1));
  }
  replaying();
}
