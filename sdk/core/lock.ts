// One sender at a time across the tabs of a site: navigator.locks where available, else a lease in
// localStorage (best effort: storage has no compare-and-set, but a lease makes overlaps rare; a tab
// never overlaps itself because its sends run one at a time).
import { readLocal, writeLocal } from './storage';

/** How long a lease holds if its tab dies without releasing it. */
export const leaseMs = 30_000;

/** Runs `work` holding the lock `name`; resolves false, without running it, while another tab holds the lease. */
export async function withLock(name: string, work: () => Promise<unknown>, now = Date.now()): Promise<boolean> {
  if (navigator.locks) return navigator.locks.request(name, work).then(() => true);
  if (Number(readLocal(name)) > now) return false;
  writeLocal(name, String(now + leaseMs));
  try {
    await work();
  } finally {
    writeLocal(name); // no lease: free
  }
  return true;
}
