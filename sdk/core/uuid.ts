/** A random UUID v4: crypto.randomUUID in secure contexts, getRandomValues elsewhere (plain-http pages). */
export function uuid(): string {
  const c = crypto;
  return c.randomUUID?.() ?? '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, (d) => (+d ^ ((c.getRandomValues(new Uint8Array(1))[0] as number) & (15 >> (+d / 4)))).toString(16));
}
