import { type LookupAddress, promises as dns } from 'node:dns';
import { isIP } from 'node:net';

/** Why an address is not public: every range a server-side request must not reach unless an operator allows it. */
export type NonPublicKind =
  'unspecified' | 'loopback' | 'private' | 'link-local' | 'carrier-grade NAT' | 'multicast' | 'broadcast' | 'reserved';

const PHRASES: Record<NonPublicKind, string> = {
  unspecified: 'an unspecified address',
  loopback: 'a loopback address',
  private: 'a private address',
  'link-local': 'a link-local address',
  'carrier-grade NAT': 'a carrier-grade NAT address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved address',
};

interface Range {
  network: bigint;
  prefix: number;
}

interface NamedRange extends Range {
  kind: NonPublicKind;
}

/** Checked in order: the first range an address is in names it. */
const IPV4_RANGES = named(32, [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrier-grade NAT'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.168.0.0/16', 'private'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
]);

const IPV6_RANGES = named(128, [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  // Local-use NAT64 (RFC 8215): translates to addresses of the operator's own network.
  ['64:ff9b:1::/48', 'private'],
  // The rest of ::/8: IPv4-compatible (deprecated) and unassigned addresses.
  ['::/8', 'reserved'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link-local'],
  // Site-local (deprecated, but still routed by some networks).
  ['fec0::/10', 'private'],
  ['ff00::/8', 'multicast'],
]);

/**
 * IPv6 prefixes whose addresses carry an IPv4 address, which decides: IPv4-mapped (a dual-stack socket connects
 * to the IPv4 address), NAT64 (the gateway does), 6to4. `shift`: how many bits lie below the IPv4 address.
 */
const IPV4_CARRIERS: (Range & { shift: bigint })[] = [
  { ...rangeOf('::ffff:0:0/96', 128), shift: 0n },
  { ...rangeOf('64:ff9b::/96', 128), shift: 0n },
  { ...rangeOf('2002::/16', 128), shift: 80n },
];

/**
 * The kind of range `address` (IPv4 or IPv6, in brackets or not, with or without a zone) is in when it is not a
 * public address, or null when it is. Anything else than an IP address is a TypeError.
 */
export function nonPublicKindOf(address: string): NonPublicKind | null {
  const ip = unbracketed(address);
  switch (isIP(ip)) {
    case 4:
      return kindIn(IPV4_RANGES, ipv4Value(ip), 32);
    case 6: {
      const value = ipv6Value(ip);
      const carrier = IPV4_CARRIERS.find((range) => contains(range, value, 128));
      return carrier
        ? kindIn(IPV4_RANGES, (value >> carrier.shift) & 0xffff_ffffn, 32)
        : kindIn(IPV6_RANGES, value, 128);
    }
    default:
      throw new TypeError(`Not an IP address: ${address}`);
  }
}

/** A host that is, or resolves to, an address that is not public. The message says which and why. */
export class NonPublicAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonPublicAddressError';
  }
}

/** Every address a name resolves to (dns.lookup, as sockets resolve). */
export type ResolveAll = (host: string) => Promise<LookupAddress[]>;

const lookupAll: ResolveAll = (host) => dns.lookup(host, { all: true });

/**
 * The addresses `host` reaches when every one is public: an IP literal is its own address; a name is resolved.
 * Otherwise a NonPublicAddressError naming the first address that is not public: one private address among
 * public ones refuses the name too, as a client may connect to any of them. Resolution errors pass through.
 */
export async function publicAddressesOf(host: string, resolve: ResolveAll = lookupAll): Promise<LookupAddress[]> {
  const literal = ipLiteralOf(host);
  if (literal !== null) {
    const kind = nonPublicKindOf(literal);
    if (kind) {
      throw new NonPublicAddressError(`${literal} is ${PHRASES[kind]}`);
    }
    return [{ address: literal, family: isIP(literal) }];
  }
  const addresses = await resolve(host);
  for (const { address } of addresses) {
    const kind = nonPublicKindOf(address);
    if (kind) {
      throw new NonPublicAddressError(`${host} resolves to ${address}, ${PHRASES[kind]}`);
    }
  }
  return addresses;
}

/** The IP address a host (a URL's hostname: an IPv6 address in brackets) is, or null when it is a name. */
export function ipLiteralOf(host: string): string | null {
  const address = unbracketed(host);
  return isIP(address) === 0 ? null : address;
}

const unbracketed = (host: string): string => host.replace(/^\[(.*)\]$/, '$1');

function ipv4Value(address: string): bigint {
  return address.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

/** The 128-bit value of a valid IPv6 address: `::` expanded, a trailing dotted IPv4 part and a zone taken in. */
function ipv6Value(address: string): bigint {
  let text = address.split('%')[0];
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const left = groups(head);
  const right = groups(tail);
  const all =
    tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return all.reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function rangeOf(cidr: string, width: 32 | 128): Range {
  const [address, prefix] = cidr.split('/');
  return { network: width === 32 ? ipv4Value(address) : ipv6Value(address), prefix: Number(prefix) };
}

function named(width: 32 | 128, ranges: [cidr: string, kind: NonPublicKind][]): NamedRange[] {
  return ranges.map(([cidr, kind]) => ({ ...rangeOf(cidr, width), kind }));
}

function contains(range: Range, value: bigint, width: 32 | 128): boolean {
  const host = BigInt(width - range.prefix);
  return value >> host === range.network >> host;
}

function kindIn(ranges: NamedRange[], value: bigint, width: 32 | 128): NonPublicKind | null {
  return ranges.find((range) => contains(range, value, width))?.kind ?? null;
}
