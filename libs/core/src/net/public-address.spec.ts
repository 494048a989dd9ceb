import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { ipLiteralOf, NonPublicAddressError, nonPublicKindOf, publicAddressesOf } from './public-address';

describe('nonPublicKindOf', () => {
  // Each range with its first and last address, and the public neighbours on either side.
  it.each([
    // IPv4
    ['0.0.0.0', 'unspecified'],
    ['0.255.255.255', 'unspecified'],
    ['1.0.0.0', null],
    ['9.255.255.255', null],
    ['10.0.0.0', 'private'],
    ['10.255.255.255', 'private'],
    ['11.0.0.0', null],
    ['100.63.255.255', null],
    ['100.64.0.0', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['100.128.0.0', null],
    ['126.255.255.255', null],
    ['127.0.0.0', 'loopback'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.255', 'loopback'],
    ['128.0.0.0', null],
    ['169.253.255.255', null],
    ['169.254.0.0', 'link-local'],
    ['169.254.169.254', 'link-local'],
    ['169.254.255.255', 'link-local'],
    ['169.255.0.0', null],
    ['172.15.255.255', null],
    ['172.16.0.0', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.0', null],
    ['192.167.255.255', null],
    ['192.168.0.0', 'private'],
    ['192.168.255.255', 'private'],
    ['192.169.0.0', null],
    ['8.8.8.8', null],
    ['223.255.255.255', null],
    ['224.0.0.0', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['240.0.0.0', 'reserved'],
    ['255.255.255.254', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    // IPv6
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['::2', 'reserved'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['[::1]', 'loopback'],
    ['2001:4860:4860::8888', null],
    ['2606:4700::1111', null],
    ['fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', null],
    ['fc00::', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'private'],
    ['fe00::', null],
    ['fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff', null],
    ['fe80::', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'link-local'],
    ['fec0::1', 'private'],
    ['feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'private'],
    ['ff00::', 'multicast'],
    ['ff02::1', 'multicast'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'multicast'],
    ['0100::', null],
    ['00ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
    // IPv4-mapped, NAT64 and 6to4: the IPv4 address inside decides
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::ffff:8.8.8.8', null],
    ['::fffe:8.8.8.8', 'reserved'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::c0a8:101', 'private'],
    ['64:ff9b::100.64.0.1', 'carrier-grade NAT'],
    ['64:ff9b::8.8.8.8', null],
    ['64:ff9b:1::1', 'private'],
    ['64:ff9b:1:ffff:ffff:ffff:ffff:ffff', 'private'],
    // Inside ::/8, outside the two NAT64 prefixes: unassigned.
    ['64:ff9b:2::1', 'reserved'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:a00:1::1', 'private'],
    ['2002:808:808::1', null],
    ['2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff', null],
    ['2003::1', null],
  ])('%s → %s', (address, kind) => {
    expect(nonPublicKindOf(address)).toBe(kind);
  });

  it('takes only IP addresses', () => {
    expect(() => nonPublicKindOf('localhost')).toThrow(TypeError);
    expect(() => nonPublicKindOf('127.1')).toThrow(TypeError);
  });
});

describe('ipLiteralOf', () => {
  it('finds the address in a URL hostname, or null for a name', () => {
    expect(ipLiteralOf('10.0.0.1')).toBe('10.0.0.1');
    expect(ipLiteralOf('[::1]')).toBe('::1');
    expect(ipLiteralOf('[::ffff:7f00:1]')).toBe('::ffff:7f00:1');
    expect(ipLiteralOf('localhost')).toBeNull();
    expect(ipLiteralOf('example.com')).toBeNull();
  });
});

describe('publicAddressesOf', () => {
  const resolvingTo =
    (...addresses: string[]) =>
    (): Promise<LookupAddress[]> =>
      Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  const nothing = (): Promise<LookupAddress[]> => Promise.reject(new Error('no lookup expected'));

  it('takes an IP literal as its own address, without resolving it', async () => {
    expect(await publicAddressesOf('93.184.215.14', nothing)).toEqual([{ address: '93.184.215.14', family: 4 }]);
    expect(await publicAddressesOf('[2606:4700::1111]', nothing)).toEqual([{ address: '2606:4700::1111', family: 6 }]);
    await expect(publicAddressesOf('10.0.0.1', nothing)).rejects.toThrow(
      new NonPublicAddressError('10.0.0.1 is a private address'),
    );
    await expect(publicAddressesOf('[::1]', nothing)).rejects.toThrow('::1 is a loopback address');
  });

  it('resolves a name and refuses it when any of its addresses is not public', async () => {
    const both = resolvingTo('93.184.215.14', '2606:4700::1111');
    expect(await publicAddressesOf('example.com', both)).toHaveLength(2);
    await expect(publicAddressesOf('localhost', resolvingTo('127.0.0.1', '::1'))).rejects.toThrow(
      new NonPublicAddressError('localhost resolves to 127.0.0.1, a loopback address'),
    );
    await expect(publicAddressesOf('mixed.example', resolvingTo('93.184.215.14', '169.254.169.254'))).rejects.toThrow(
      'mixed.example resolves to 169.254.169.254, a link-local address',
    );
    await expect(publicAddressesOf('unspecified.example', resolvingTo('0.0.0.0'))).rejects.toThrow(
      'unspecified.example resolves to 0.0.0.0, an unspecified address',
    );
  });
});
