// Serialises what a page passes (properties, traits, a plugin's event) without ever throwing: cycles,
// functions, symbols, DOM nodes and windows are left out, BigInt becomes a string, huge strings are cut.

/** Strings longer than this are cut (an event must stay under 32 KB anyway). */
export const maxStringLength = 8192;

/** JSON text of `value` made safe; undefined only when even that fails (a throwing getter or toJSON). */
export function safeJson(value: unknown): string | undefined {
  // Fast path for the usual event (the replacer below costs microseconds per call): taken unless
  // plain JSON throws (cycle, BigInt) or comes out long enough to hide a huge string.
  try {
    const plain = JSON.stringify(value);
    if (plain.length < maxStringLength) return plain;
  } catch {
    // made safe below
  }
  const path: unknown[] = []; // the objects from the root to the one being written: a cycle returns into it
  try {
    return JSON.stringify(value, function (this: unknown, _key, item: unknown) {
      if (typeof item == 'bigint') return String(item);
      if (typeof item == 'string' && item.length > maxStringLength) return `${item.slice(0, maxStringLength)}…`;
      if (item && typeof item == 'object') {
        path.splice(path.indexOf(this) + 1); // back to `this` (none of it for the root's wrapper)
        // A window (`this` in a sloppy-mode handler, an event's view) would bring the whole page and every
        // localStorage value: checked first, as `in` throws on another origin's window and `.window` does not.
        if (path.includes(item) || (item as Window).window == item || 'nodeType' in item) return undefined;
        path.push(item);
      }
      return item;
    });
  } catch {
    // a throwing getter or toJSON: undefined
  }
}

const encoder = /* @__PURE__ */ new TextEncoder();

/** UTF-8 size of a string, as it goes on the wire. */
export function byteLength(text: string): number {
  return encoder.encode(text).length;
}
