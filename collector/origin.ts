// An allowed origin as a browser writes it in its `Origin` header. Origins are compared exactly at
// request time, so a configured value that is spelled differently would refuse every browser: what is
// unambiguous is rewritten into the browser's spelling, anything else is refused at start.

export type OriginCheck = { ok: true; origin: string } | { ok: false; problem: string };

/** Schemes whose origin browsers send as `scheme://host[:port]`; other special schemes send none or "null". */
const webSchemes = new Set(['http:', 'https:']);
const otherSpecialSchemes = new Set(['file:', 'ftp:', 'ws:', 'wss:']);

const shape = 'write it as scheme://host[:port], e.g. https://shop.example.com';

/**
 * `https://Shop.Example.com:443/` becomes `https://shop.example.com` (lower-case scheme and host,
 * punycode, no default port, no trailing slash). App schemes (`capacitor://localhost`,
 * `chrome-extension://id`) keep their host as written, as browsers do. `*` stays `*`.
 */
export function normalizeOrigin(value: string): OriginCheck {
  if (value === '*') return { ok: true, origin: '*' };
  const quoted = JSON.stringify(value);
  if (value.includes('*')) return { ok: false, problem: `${quoted} has a wildcard: list each origin, or use "*" alone for any` };
  if (value.trim() === 'null') {
    return { ok: false, problem: `${quoted} is the origin of sandboxed frames and local files, which any page can produce; use "*" to allow any origin` };
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, problem: `${quoted} is not an origin: ${shape}` };
  }
  if (otherSpecialSchemes.has(url.protocol)) return { ok: false, problem: `${quoted} is not an origin a browser sends: use http:// or https://` };
  // `localhost:8080` parses as scheme "localhost:" with no host.
  if (url.host === '') return { ok: false, problem: `${quoted} is not an origin: ${shape}` };
  if (url.username !== '' || url.password !== '') return { ok: false, problem: `${quoted} has a user name: ${shape}` };
  if (!['', '/'].includes(url.pathname) || url.search !== '' || url.hash !== '') {
    return { ok: false, problem: `${quoted} has a path, query or fragment, which an origin never has: ${shape}` };
  }
  return { ok: true, origin: webSchemes.has(url.protocol) ? url.origin : `${url.protocol}//${url.host}` };
}
