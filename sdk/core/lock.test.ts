import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { leaseMs, withLock } from './lock';

describe('withLock without navigator.locks (the localStorage lease)', () => {
  let locks: PropertyDescriptor | undefined;
  beforeEach(() => {
    locks = Object.getOwnPropertyDescriptor(navigator, 'locks');
    Object.defineProperty(navigator, 'locks', { configurable: true, value: undefined });
    localStorage.clear();
  });
  afterEach(() => {
    if (locks) Object.defineProperty(navigator, 'locks', locks);
    else delete (navigator as { locks?: unknown }).locks;
  });

  it('lets one holder in at a time and frees the lease when the work is done', async () => {
    let release = () => undefined as void;
    const first = withLock('lock-a', () => new Promise<void>((resolve) => (release = resolve)), 1000);
    expect(await withLock('lock-a', async () => undefined, 2000)).toBe(false);
    release();
    expect(await first).toBe(true);
    let ran = false;
    expect(await withLock('lock-a', async () => void (ran = true), 3000)).toBe(true);
    expect(ran).toBe(true);
  });

  it('takes over a lease its holder never released once it expired', async () => {
    localStorage.setItem('lock-b', String(1000 + leaseMs));
    expect(await withLock('lock-b', async () => undefined, 1000)).toBe(false);
    expect(await withLock('lock-b', async () => undefined, 1001 + leaseMs)).toBe(true);
  });

  it('frees the lease even when the work fails', async () => {
    await expect(withLock('lock-c', async () => Promise.reject(new Error('boom')), 1000)).rejects.toThrow('boom');
    expect(await withLock('lock-c', async () => undefined, 1001)).toBe(true);
  });
});
