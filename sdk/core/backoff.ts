// When to try again after a failed send: exponential backoff with full jitter, never before the
// server's Retry-After (in seconds, as the collector sends it).

/** First retry within a second, doubling up to 5 minutes. */
export const retryBase = 1000;
export const retryCap = 300_000;

/** Delay before retry number `attempt` (0 for the first): random in [0, min(cap, base·2^attempt)), at least Retry-After. */
export function retryDelay(attempt: number, retryAfter: string | null | undefined, random = Math.random): number {
  return Math.max(random() * Math.min(retryCap, retryBase * 2 ** attempt), Number(retryAfter) * 1000 || 0);
}
