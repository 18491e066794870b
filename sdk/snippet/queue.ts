import type { TagflowOptions } from '../core/types';

// The shape shared by the stub (which fills it) and the IIFE entry (which replays it).

/** One recorded call: method name, then its arguments. */
export type QueuedCall = [method: string, ...args: unknown[]];

/** window.tagflow before the SDK has loaded: an array of calls plus the snippet's settings. */
export interface SnippetQueue extends Array<QueuedCall> {
  config: TagflowOptions & { src: string };
}
