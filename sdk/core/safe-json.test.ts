import { describe, expect, it } from 'vitest';
import { byteLength, maxStringLength, safeJson } from './safe-json';

const parse = (value: unknown) => JSON.parse(safeJson(value) ?? 'null') as Record<string, unknown>;

describe('safeJson', () => {
  it('leaves out cycles but keeps an object that is merely shared', () => {
    const address = { city: 'Berlin' };
    const cyclic: Record<string, unknown> = { name: 'a', billing: address, shipping: address };
    cyclic.self = cyclic;
    cyclic.list = [1, cyclic];
    expect(parse(cyclic)).toEqual({ name: 'a', billing: { city: 'Berlin' }, shipping: { city: 'Berlin' }, list: [1, null] });
  });

  it('drops functions, symbols and undefined, and turns BigInt into a string', () => {
    expect(parse({ f: () => 1, s: Symbol('x'), u: undefined, big: 12345678901234567890n, n: 1 })).toEqual({ big: '12345678901234567890', n: 1 });
  });

  it('never serialises DOM nodes: plain JSON sees no own data in them, the safe path leaves them out', () => {
    const element = document.createElement('button');
    const out = parse({ target: element, nested: { node: document.body }, ok: true });
    expect(out.ok).toBe(true);
    expect([undefined, '{}']).toContain(out.target === undefined ? undefined : JSON.stringify(out.target));
    const cyclic: Record<string, unknown> = { target: element, nested: { node: document.body, text: document.createTextNode('x') }, ok: true };
    cyclic.self = cyclic; // forces the safe path
    expect(parse(cyclic)).toEqual({ nested: {}, ok: true });
  });

  it('never serialises a window (and with it the page and every localStorage value), wherever it sits', () => {
    localStorage.setItem('session-token', 'secret');
    const text = safeJson({ w: window, event: { view: window, detail: 1 }, list: [window], ok: true });
    expect(JSON.parse(text ?? 'null')).toEqual({ event: { detail: 1 }, list: [null], ok: true });
    expect(text).not.toContain('secret');
    localStorage.removeItem('session-token');
  });

  it('cuts huge strings', () => {
    const out = parse({ huge: 'x'.repeat(1_000_000) });
    expect(out.huge).toHaveLength(maxStringLength + 1);
    expect(String(out.huge).endsWith('…')).toBe(true);
  });

  it('uses toJSON (dates) and returns undefined instead of throwing on a hostile getter', () => {
    expect(parse({ at: new Date('2026-01-01T00:00:00.000Z') })).toEqual({ at: '2026-01-01T00:00:00.000Z' });
    const hostile = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get() {
        throw new Error('no');
      },
    });
    expect(safeJson({ hostile })).toBeUndefined();
  });
});

describe('byteLength', () => {
  it('counts UTF-8 bytes, not characters', () => {
    expect(byteLength('abc')).toBe(3);
    expect(byteLength('€')).toBe(3);
    expect(byteLength('😀')).toBe(4);
  });
});
