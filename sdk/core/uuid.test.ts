import { afterEach, describe, expect, it, vi } from 'vitest';
import { uuid } from './uuid';

const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

afterEach(() => vi.restoreAllMocks());

describe('uuid', () => {
  it('is crypto.randomUUID where there is one', () => {
    vi.spyOn(crypto, 'randomUUID').mockReturnValue('11111111-2222-4333-8444-555555555555');
    expect(uuid()).toBe('11111111-2222-4333-8444-555555555555');
  });

  it('is the UUID of a blob URL without it (plain-http pages, older browsers), and leaves no URL registered', () => {
    vi.spyOn(crypto, 'randomUUID').mockReturnValue(undefined as unknown as ReturnType<Crypto['randomUUID']>);
    const created = vi.spyOn(URL, 'createObjectURL');
    const revoked = vi.spyOn(URL, 'revokeObjectURL');
    const ids = [uuid(), uuid()];
    for (const id of ids) expect(id).toMatch(v4);
    expect(ids[0]).not.toBe(ids[1]);
    expect(revoked.mock.calls.map(([url]) => url)).toEqual(created.mock.results.map((r) => r.value));
  });
});
