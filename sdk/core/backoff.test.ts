import { describe, expect, it } from 'vitest';
import { retryBase, retryCap, retryDelay } from './backoff';

describe('retryDelay', () => {
  it('draws from the whole window [0, base·2^attempt) — full jitter', () => {
    expect(retryDelay(0, null, () => 0)).toBe(0);
    expect(retryDelay(0, null, () => 0.5)).toBe(retryBase / 2);
    expect(retryDelay(3, null, () => 0.5)).toBe((retryBase * 8) / 2);
    expect(retryDelay(3, null, () => 0.999)).toBeLessThan(retryBase * 8);
  });

  it('caps the window at 5 minutes however many attempts failed', () => {
    expect(retryDelay(40, null, () => 0.999)).toBeLessThan(retryCap);
    expect(retryDelay(40, null, () => 0.5)).toBe(retryCap / 2);
  });

  it('never retries before Retry-After (seconds), and ignores an unreadable one', () => {
    expect(retryDelay(0, '7', () => 0.5)).toBe(7000);
    expect(retryDelay(5, '1', () => 0.5)).toBe((retryBase * 32) / 2); // backoff longer than Retry-After
    expect(retryDelay(0, 'soon', () => 0.25)).toBe(retryBase / 4);
    expect(retryDelay(0, undefined, () => 0.25)).toBe(retryBase / 4);
  });
});
