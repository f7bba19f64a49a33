// Every request oidc-provider makes to a URL a client gave it (Client ID Metadata Documents, jwks_uri,
// sector_identifier_uri) goes through this `fetch` hook: https only, and a guard against server-side request
// forgery that refuses private, link-local, loopback and other special-use addresses, checked on the addresses the
// host name resolves to (so DNS cannot smuggle one in) and on IP literals. oidc-provider installs a dispatcher of its
// own that refuses those too (lib/helpers/fetch_request.js); this one replaces it so that loopback can be allowed for
// development and tests (AGENTAUTH_CIMD_ALLOW_LOOPBACK=true) while everything else stays refused.
import dns from 'node:dns';
import https from 'node:https';
import net from 'node:net';
import { Readable } from 'node:stream';

/** Milliseconds a connection may stay idle; the whole fetch is bounded by oidc-provider's 2.5 s signal. */
const CONNECT_TIMEOUT_MS = 2_000;
const FETCH_TIMEOUT_MS = 2_500;

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Special-use ranges (RFC 6890 and successors) that are never fetched, loopback aside. */
const SPECIAL_USE = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24],
  ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) SPECIAL_USE.addSubnet(prefix, bits, 'ipv4');
for (const [prefix, bits] of [
  ['::', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32], ['2002::', 16],
  ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const) SPECIAL_USE.addSubnet(prefix, bits, 'ipv6');

export type AddressVerdict = 'public' | 'loopback' | 'special-use';

/** How an IP address counts for outbound fetches. IPv4-mapped IPv6 addresses count as their IPv4 address. */
export function classifyAddress(address: string): AddressVerdict {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const ip = mapped ?? address.replace(/^\[|\]$/g, '');
  const family = net.isIPv4(ip) ? 'ipv4' : net.isIPv6(ip) ? 'ipv6' : undefined;
  if (!family) return 'special-use';
  if (LOOPBACK.check(ip, family)) return 'loopback';
  return SPECIAL_USE.check(ip, family) ? 'special-use' : 'public';
}

export class RefusedAddressError extends Error {
  override name = 'RefusedAddressError';
}

export type OutboundFetchOptions = {
  /** Development and tests: loopback addresses may be fetched (https still required). */
  allowLoopback: boolean;
};

type Lookup = NonNullable<net.TcpSocketConnectOpts['lookup']>;

export function guardedLookup(options: OutboundFetchOptions): Lookup {
  const allowed = (address: string) => {
    const verdict = classifyAddress(address);
    return verdict === 'public' || (verdict === 'loopback' && options.allowLoopback);
  };
  return ((hostname: string, lookupOptions: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    dns.lookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error);
      const refused = addresses.find((entry) => !allowed(entry.address));
      if (refused || addresses.length === 0) {
        return callback(new RefusedAddressError(`${hostname} resolves to ${refused?.address ?? 'nothing'}, which is not fetched`));
      }
      if (lookupOptions.all) return callback(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as Lookup;
}

/**
 * oidc-provider's `fetch` configuration hook, on node:https (whose `lookup` option is where the guard sits) rather
 * than the global fetch, whose dispatcher class is not reachable by name on every Node version.
 */
export function outboundFetch(options: OutboundFetchOptions): (url: URL | string, init: RequestInit) => Promise<Response> {
  const lookup = guardedLookup(options);
  return async (url, init) => {
    const target = new URL(url);
    if (target.protocol !== 'https:') throw new RefusedAddressError(`${target.protocol} URLs are not fetched: https only`);
    // An IP literal is connected to without a lookup: check it here.
    const literal = target.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(literal)) {
      const verdict = classifyAddress(literal);
      if (verdict === 'special-use' || (verdict === 'loopback' && !options.allowLoopback)) {
        throw new RefusedAddressError(`${literal} is not fetched`);
      }
    }
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      if (value !== '') headers[name] = value;
    });
    const signal = init.signal ?? AbortSignal.timeout(FETCH_TIMEOUT_MS);
    return new Promise<Response>((resolve, reject) => {
      const request = https.request(
        target,
        { method: init.method ?? 'GET', headers, lookup, timeout: CONNECT_TIMEOUT_MS, signal },
        (response) => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            for (const one of ([] as string[]).concat(value ?? [])) responseHeaders.append(name, one);
          }
          // Redirects are answered, never followed (oidc-provider asks for redirect: 'manual' and refuses non-200).
          const status = response.statusCode ?? 500;
          const body = [101, 204, 205, 304].includes(status) ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>);
          resolve(new Response(body, { status, headers: responseHeaders }));
        },
      );
      request.on('timeout', () => request.destroy(new Error('connection timed out')));
      request.on('error', reject);
      request.end();
    });
  };
}
