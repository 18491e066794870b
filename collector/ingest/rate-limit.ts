// A token bucket per source: `requestsPerSecond` tokens flow in, up to `burst` are kept.
import type { RateLimitConfig } from '../config';

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
