// The browser build the snippet loads is tested by its bytes (deterministic, unlike timings).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sizeOf } from '../../bench/sizes';

const iife = readFileSync(join(__dirname, '..', '..', 'dist', 'browser', 'tagflow.min.js'));

describe('dist/browser/tagflow.min.js', () => {
  it('is at most 3.5 KB brotli (quality 11) with track/page/identify, batching, the IndexedDB queue, retries and the beacon', () => {
    expect(sizeOf(iife).brotli).toBeLessThanOrEqual(3.5 * 1024);
  });

  it('really contains those parts (so the size is not met by leaving them out)', () => {
    const code = iife.toString('utf8');
    for (const part of ['indexedDB.open', 'sendBeacon', 'keepalive', 'Retry-After', 'locks', 'pagehide', 'online', '/v1/batch']) expect(code).toContain(part);
  });
});
