// IP anonymisation, on by default for every source: keep the network, drop the host
// (/24 for IPv4, /48 for IPv6), enough for coarse geography, too little to single out a person.
import { isIPv4, isIPv6 } from 'node:net';

/** Expands an IPv6 address to its eight 16-bit groups (handles `::` and an embedded IPv4 tail). */
function ipv6Groups(ip: string): string[] {
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
