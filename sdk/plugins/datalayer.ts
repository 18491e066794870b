// Watches a GTM-style `window.dataLayer`: every entry already pushed, then every later push.
// Shared by the GA4 bridge, the consent plugin (Consent Mode signals) and the tag manager.

/**
 * Calls `onEntry` for each entry of `window[name]` and for each later push (the array is created
 * when missing). Returns a function that stops watching. `onEntry` errors never reach the page.
 */
export function watchDataLayer(name: string, onEntry: (entry: unknown) => void): () => void {
  const w = window as unknown as Record<string, unknown>;
  const layer = (Array.isArray(w[name]) ? w[name] : (w[name] = [])) as unknown[];
  const safe = (entry: unknown) => {
    try {
      onEntry(entry);
    } catch {
      // a watcher's bug must not break the page's push
    }
  };
  const original = layer.push;
  const push = function (this: unknown[], ...entries: unknown[]): number {
    const length = original.apply(this, entries);
    entries.forEach(safe);
    return length;
  };
  layer.push = push;
  layer.slice().forEach(safe);
  return () => {
    if (layer.push === push) layer.push = original;
  };
}

/**
 * The arguments of a `gtag(...)` call, which gtag pushes onto dataLayer as an `arguments` object (array-like,
 * e.g. `['event', 'purchase', {...}]`); undefined for other entries.
 */
export function gtagArguments(entry: unknown): unknown[] | undefined {
  return typeof entry === 'object' && entry !== null && typeof (entry as { length?: unknown }).length === 'number' ? Array.from(entry as ArrayLike<unknown>) : undefined;
}
