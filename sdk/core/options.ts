// Checks options once, at createTagflow, so a wrong setup fails loudly in development
// instead of silently losing events in production.
import type { TagflowOptions } from './types';

/** Options with every default filled in (`cookieDomain` stays optional: no domain means this host). */
export type ResolvedOptions = Required<Omit<TagflowOptions, 'cookieDomain'>> & Pick<TagflowOptions, 'cookieDomain'>;

/** A wrong option given to createTagflow. */
export class TagflowOptionsError extends Error {
  get code(): 'TAGFLOW_OPTIONS' {
    return 'TAGFLOW_OPTIONS';
  }
  /** Its class name, as the console and `String(error)` show it (the minifier renames the class). */
  override get name(): string {
    return 'TagflowOptionsError';
  }
}

const defaults = { batchSize: 20, batchBytes: 60_000, flushInterval: 1000, maxQueueEvents: 10_000, maxQueueAge: 7 * 864e5 };

export function resolveOptions(options: TagflowOptions): ResolvedOptions {
  const fail = (message: string) => {
    throw new TagflowOptionsError(`Tagflow: ${message}`);
  };
  if (!options?.writeKey?.trim?.()) fail('writeKey is required'); // missing, not a string, or blank
  let endpoint = '';
  try {
    endpoint = new URL(options.endpoint).href.replace(/\/+$/, '');
  } catch {
    // reported below
  }
  // Checked on the parsed URL, so the scheme's case and surrounding spaces do not matter.
  if (!/^https?:\/\//.test(endpoint)) fail(`endpoint must be an http(s) URL: ${options.endpoint}`);
  const resolved = { ...defaults, debug: false, ...options, endpoint };
  for (const key of Object.keys(defaults) as (keyof typeof defaults)[]) {
    const value = (resolved[key] ??= defaults[key]);
    if (!(value > 0)) fail(`${key} must be a positive number: ${value}`);
  }
  return resolved;
}
