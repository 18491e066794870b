// Checks options once, at createTagflow, so a wrong setup fails loudly in development
// instead of silently losing events in production.
import type { TagflowOptions } from './types';

/** Options with every default filled in. */
export type ResolvedOptions = Required<TagflowOptions>;

/** A wrong option given to createTagflow. */
export class TagflowOptionsError extends Error {
  readonly code = 'TAGFLOW_OPTIONS';
}

export function resolveOptions(options: TagflowOptions): ResolvedOptions {
  if (!options || typeof options.writeKey !== 'string' || options.writeKey.trim() === '') {
    throw new TagflowOptionsError('Tagflow: writeKey is required (find it in the collector configuration)');
  }
  let endpoint: URL;
  try {
    endpoint = new URL(options.endpoint);
    if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:') throw new Error('protocol');
  } catch {
    throw new TagflowOptionsError(`Tagflow: endpoint must be an http(s) URL, got ${JSON.stringify(options.endpoint)}`);
  }
  return {
    writeKey: options.writeKey,
    endpoint: endpoint.href.replace(/\/+$/, ''),
    batchSize: options.batchSize ?? 20,
    flushInterval: options.flushInterval ?? 1000,
    debug: options.debug ?? false,
  };
}
