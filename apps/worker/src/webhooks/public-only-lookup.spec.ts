import type { LookupAddress } from 'node:dns';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NonPublicAddressError } from '@app/core';
import { publicOnlyLookup } from './public-only-lookup';

/** A resolver that answers these addresses, like a DNS server the receiver's owner controls. */
const answering =
  (...addresses: string[]) =>
  (): Promise<LookupAddress[]> =>
    Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));

describe('publicOnlyLookup', () => {
  const sockets: Socket[] = [];
  afterEach(() => sockets.splice(0).forEach((socket) => socket.destroy()));

  /** Where a socket to `hooks.example` tries to connect, with or without trying every address (happy eyeballs). */
  const firstAttempt = async (autoSelectFamily: boolean, ...addresses: string[]) => {
    const socket = connect({
      host: 'hooks.example',
      port: 9,
      lookup: publicOnlyLookup(answering(...addresses)),
      autoSelectFamily,
    });
    sockets.push(socket);
    socket.on('error', () => undefined);
    const [error, address] = (await once(socket, 'lookup')) as [Error | null, string | undefined];
    return { error, address };
  };

  it.each([true, false])('hands the socket the public address it checked (autoSelectFamily %s)', async (multiple) => {
    expect(await firstAttempt(multiple, '192.0.2.10')).toEqual({ error: null, address: '192.0.2.10' });
  });

  it.each([true, false])(
    'refuses a name with any address that is not public (autoSelectFamily %s)',
    async (multiple) => {
      const { error } = await firstAttempt(multiple, '192.0.2.10', '10.0.0.5');
      expect(error).toBeInstanceOf(NonPublicAddressError);
      expect(error?.message).toBe('hooks.example resolves to 10.0.0.5, a private address');
    },
  );
});
