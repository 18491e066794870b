// The client's IP: read from what the proxy forwarded, then anonymised, on by default for every source: keep
// the network, drop the host (/24 for IPv4, /48 for IPv6), enough for coarse geography, too little to single
// out a person.
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** Expands an IPv6 address to its eight 16-bit groups (handles `::` and an embedded IPv4 tail). */
export function ipv6Groups(ip: string): string[] {
  const [head = '', tail = ''] = ip.split('::');
  const parse = (part: string) => (part ? part.split(':') : []);
  const headGroups = parse(head);
  const tailGroups = parse(tail);
  const missing = 8 - headGroups.length - tailGroups.length;
  return [...headGroups, ...Array<string>(Math.max(0, missing)).fill('0'), ...tailGroups];
}

export function anonymizeIp(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const address = mapped?.[1] ?? ip;
  if (isIPv4(address)) return address.replace(/\.\d+$/, '.0');
  if (isIPv6(address)) {
    const groups = ipv6Groups(address.split('%')[0] ?? address).slice(0, 3).map((g) => (parseInt(g, 16) || 0).toString(16));
    return `${groups.join(':')}::`;
  }
  return '';
}

/**
 * The client's address from Fastify's `request.ip`. Behind a trusted proxy that is the X-Forwarded-For
 * entry the proxy wrote, which some write with a port (`1.2.3.4:8080`, `[2001:db8::1]:443`): port and
 * brackets are dropped. What is then not an IP address (a host name, `<script>`) is not stored: ''.
 */
export function clientIp(forwarded: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d+)?$/.exec(forwarded);
  // One colon: IPv4 with a port (an IPv6 address without brackets has at least two).
  const address = bracketed?.[1] ?? (/^[^:]*:\d+$/.test(forwarded) ? forwarded.slice(0, forwarded.lastIndexOf(':')) : forwarded);
  return isIP(address) ? address : '';
}
