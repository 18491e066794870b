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
