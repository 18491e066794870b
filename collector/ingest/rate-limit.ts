// Token buckets, one per source and client: `requestsPerSecond` tokens flow in, up to `burst` are kept.
// Per client, so that whoever holds a site's public write key can exhaust only their own bucket, not the
// one every real visitor of that source shares. The buckets are capped in number (see createRateLimiter).
import { isIPv4, isIPv6 } from 'node:net';
import type { RateLimitConfig } from '../config';
import { ipv6Groups } from './ip';

export interface Bucket {
  tokens: number;
  updatedAt: number;
}

export type Take = { ok: true } | { ok: false; retryAfterSeconds: number };

export function fullBucket(limit: RateLimitConfig, now: number): Bucket {
  return { tokens: limit.burst, updatedAt: now };
}

/** Takes one token from `bucket` (mutated) at time `now` (ms); when none is left, says how long to wait. */
export function takeToken(bucket: Bucket, limit: RateLimitConfig, now: number): Take {
  bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * limit.requestsPerSecond);
  bucket.updatedAt = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return { ok: true };
  }
  return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / limit.requestsPerSecond)) };
}

/** Whether `bucket` has refilled by `now`: it is then the same as a new one, and forgetting it loses nothing. */
function refilled(bucket: Bucket, limit: RateLimitConfig, now: number): boolean {
  return bucket.tokens + ((now - bucket.updatedAt) / 1000) * limit.requestsPerSecond >= limit.burst;
}

/**
 * Which client a bucket is for: an IPv4 address, or the /64 network of an IPv6 one (what one household,
 * phone or server is given), else a client with a /64 would get 2^64 buckets by changing the host part.
 * '' (an address the trusted proxy wrote that is not one) stays '': all such clients share a bucket.
 */
export function clientNetwork(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  if (mapped && isIPv4(mapped)) return mapped;
  if (!isIPv6(ip)) return ip;
  const groups = ipv6Groups(ip.split('%')[0] ?? ip).slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16));
  return `${groups.join(':')}::/64`;
}

export interface RateLimiter {
  /** Takes a token from the bucket of `sourceId` and the client at `ip` at time `now` (ms). */
  take(sourceId: string, ip: string, limit: RateLimitConfig, now: number): Take;
  /** How many buckets are kept. */
  readonly size: number;
}

interface Entry {
  bucket: Bucket;
  limit: RateLimitConfig;
}

/**
 * Buckets per (source, client), at most `maxBuckets` of them. A new client at the cap first makes every
 * refilled bucket be forgotten (it would be the same new bucket again); if that frees less than a tenth of
 * the cap, the least recently used buckets go too, down to nine tenths: their clients start again with a
 * full burst. So memory stays bounded and one sweep pays for a tenth of the cap's new clients.
 */
export function createRateLimiter(maxBuckets: number): RateLimiter {
  const cap = Math.max(1, Math.floor(maxBuckets));
  // A Map iterates in insertion order; each take re-inserts its entry, so the first is the least recently used.
  const entries = new Map<string, Entry>();

  const makeRoom = (now: number) => {
    for (const [key, entry] of entries) if (refilled(entry.bucket, entry.limit, now)) entries.delete(key);
    const keep = cap - Math.ceil(cap / 10);
    for (const key of entries.keys()) {
      if (entries.size <= keep) break;
      entries.delete(key);
    }
  };

  return {
    take(sourceId, ip, limit, now) {
      // An IP address has no space, so the key names one (client, source) pair whatever the source id.
      const key = `${clientNetwork(ip)} ${sourceId}`;
      let entry = entries.get(key);
      if (entry) {
        entries.delete(key);
      } else {
        if (entries.size >= cap) makeRoom(now);
        entry = { bucket: fullBucket(limit, now), limit };
      }
      entries.set(key, entry);
      return takeToken(entry.bucket, limit, now);
    },
    get size() {
      return entries.size;
    },
  };
}
