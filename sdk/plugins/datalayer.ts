// Watches a GTM-style `window.dataLayer`: every entry already pushed, then every later push.
// Shared by the GA4 bridge, the consent plugin (Consent Mode signals) and the tag manager, none of
// which acts on what the tag manager's own tags push: that is our output, not the site's.

/** How many tags are firing now: nested when a tag's call makes the page track, which fires another. */
let firing = 0;
/** Entries pushed while a tag fired, kept for watchers that start later and read what is already there. */
const fromTags = new WeakSet<object>();

/**
 * Runs `fire` as the tag manager's firing of a tag: entries pushed onto a watched dataLayer meanwhile
 * (synchronously, also through other tools' push wrappers) are the tags' output, not the site's, and no
 * watcher acts on them. A tag forwarding an order to GA4 would otherwise be tracked by the GA4 bridge as a
 * new order, which fires the tag again, until the stack runs out.
 */
export function fireTag(fire: () => void): void {
  firing++;
  try {
    fire();
  } finally {
    firing--;
  }
}

/**
 * Calls `onEntry` for each entry of `window[name]` and for each later push (the array is created
 * when missing), except those a tag pushed (see {@link fireTag}). Returns a function that stops
 * watching. `onEntry` errors never reach the page.
 */
export function watchDataLayer(name: string, onEntry: (entry: unknown) => void): () => void {
  const w = window as unknown as Record<string, unknown>;
  const layer = (Array.isArray(w[name]) ? w[name] : (w[name] = [])) as unknown[];
  const safe = (entry: unknown) => {
    try {
      // While a tag fires, an entry is the tag's: remembered for watchers that start later (a primitive
      // throws in add, caught here: none of our watchers reads one anyway).
      if (firing) fromTags.add(entry as object);
      else if (!fromTags.has(entry as object)) onEntry(entry);
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
