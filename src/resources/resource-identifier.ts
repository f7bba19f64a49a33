// One spelling per resource server. RFC 8707 compares resource indicators as strings, but clients spell the same
// URL differently (`HTTPS://MCP.Example.com:443/mcp/`); every identifier is reduced to one canonical form when a
// resource is registered and when a request names one, so a lookup finds it and tokens carry the registered form.

/** Default ports that an identifier never spells out. */
const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/**
 * Lower-case scheme and host, no default port, no trailing `/` on the path (`/mcp/` is `/mcp`; a bare origin has
 * no path at all), query kept as sent. Answers undefined for what is not an absolute URL (or has a fragment, which
 * RFC 8707 §2 forbids): the caller refuses it.
 */
export function canonicalResourceIdentifier(value: string): string | undefined {
  const url = URL.parse(value);
  if (!url || url.hash || value.includes('#')) return undefined;
  // WHATWG URL already lower-cases scheme and host and drops a default port for special schemes; other schemes
  // (urn:, custom) keep their spelling apart from the scheme.
  if (DEFAULT_PORTS[url.protocol] === url.port) url.port = '';
  if (!url.host && !['http:', 'https:'].includes(url.protocol)) return `${url.protocol}${url.pathname}${url.search}`;
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.protocol}//${url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : ''}${url.host}${path}${url.search}`;
}

/** The canonical form of a value known to be a URL; the value itself when it is not one (a lookup then fails). */
export function canonicalOrSame(value: string): string {
  return canonicalResourceIdentifier(value) ?? value;
}
