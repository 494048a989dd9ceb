import { isIPv6 } from 'node:net';

const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * What a client's failed authentications are counted against: its IPv4 address, or the /64 its IPv6 address is in
 * (a single host commonly holds a whole /64, so counting each address would let it count nothing).
 */
export function clientAddressKey(ip: string | undefined): string {
  if (!ip) {
    return 'unknown';
  }
  const mapped = IPV4_MAPPED.exec(ip);
  if (mapped) {
    return mapped[1];
  }
  const address = ip.split('%')[0]; // a zone (fe80::1%eth0) names the interface, not the host
  if (!isIPv6(address)) {
    return ip;
  }
  return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`;
}

/** The eight groups of an IPv6 address, `::` expanded, each without leading zeros. */
function ipv6Groups(address: string): string[] {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // A trailing dotted quad (64:ff9b::192.0.2.1) holds two groups.
  const width = (groups: string[]) => groups.reduce((sum, group) => sum + (group.includes('.') ? 2 : 1), 0);
  const zeros = tail === undefined ? [] : Array<string>(8 - width(left) - width(right)).fill('0');
  return [...left, ...zeros, ...right].map((group) => (group.includes('.') ? group : parseInt(group, 16).toString(16)));
}
