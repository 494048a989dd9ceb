import { type LookupAddress, type LookupOptions, promises as dns } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { publicAddressesOf } from '@app/core';

/** Every address of a name, as a socket asked for them (family, hints). */
export type ResolveForSocket = (hostname: string, options: LookupOptions) => Promise<LookupAddress[]>;

const systemResolve: ResolveForSocket = (hostname, options) => dns.lookup(hostname, { ...options, all: true });

/**
 * The `lookup` of the sockets webhooks are sent on: it resolves the name, refuses it (NonPublicAddressError) when
 * any of its addresses is not public, and hands the socket the very addresses it checked. So a name that resolves
 * to another address a moment later (DNS rebinding) never gets a private one past the check. Sockets call it for
 * names only, never for an IP literal.
 */
export function publicOnlyLookup(resolve: ResolveForSocket = systemResolve): LookupFunction {
  return (hostname, options, callback) => {
    publicAddressesOf(hostname, (name) => resolve(name, options)).then(
      (addresses) =>
        options.all ? callback(null, addresses) : callback(null, addresses[0].address, addresses[0].family),
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}
