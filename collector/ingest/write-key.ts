// Where a request's write key comes from: the Basic-auth user name (as Segment's libraries send it)
// or `writeKey` in the body (as sendBeacon must, having no headers).

/** The Basic-auth user name, or undefined when the header is absent or not Basic. */
export function writeKeyFromAuthorization(header: string | undefined): string | undefined {
  const match = header ? /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header.trim()) : null;
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const user = decoded.split(':')[0];
  return user || undefined;
}

export type BodyWriteKey = { ok: true; writeKey: string | undefined } | { ok: false; status: 400; error: 'invalid_write_key'; message: string };

/** What a JSON value is, for a message: `a number`, `an array`. */
function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}

/**
 * `writeKey` from the body: a string, or absent (undefined or null, as null means absent in events). Any
 * other value is a client's mistake worth naming: taken as absent it was answered missing_write_key, which
 * sent people looking for a key that was there.
 */
export function writeKeyFromBody(value: unknown): BodyWriteKey {
  if (value === undefined || value === null) return { ok: true, writeKey: undefined };
  if (typeof value === 'string') return { ok: true, writeKey: value };
  return { ok: false, status: 400, error: 'invalid_write_key', message: `writeKey in the body is ${kindOf(value)}; the write key must be a string` };
}
