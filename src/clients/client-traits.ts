// Plain traits of an OAuth client that decisions read (the policy module, src/policy/, decides with them; nothing
// here decides). Computed from the client as oidc-provider holds it, so they hold for every kind of client alike:
// registered by an admin, arrived with a Client ID Metadata Document, or registered through DCR.
//
//   dynamic       the client arrived by itself (CIMD or DCR): an agent without an owner, bounded by consent only,
//                 consented to at resources whose allow_dynamic_clients flag is on; consent is asked every time.
//   origin        'admin' | 'cimd' | 'dcr'
//   publicClient  it authenticates with nothing (token_endpoint_auth_method none)
//   loopbackOnly  every redirect URI is a loopback one (127.0.0.1, [::1], localhost): any local program can listen
//                 there, so a public client like this must be asked for consent every time.

/** The host names RFC 8252 §7.3 loopback redirects use. */
export const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export type ClientTraits = {
  origin: 'admin' | 'cimd' | 'dcr';
  dynamic: boolean;
  publicClient: boolean;
  loopbackOnly: boolean;
};

/** What a client looks like to these facts: snake_case metadata or oidc-provider's camelCase client instance. */
export type ClientLike = {
  agent_origin?: unknown;
  token_endpoint_auth_method?: unknown;
  tokenEndpointAuthMethod?: unknown;
  redirect_uris?: unknown;
  redirectUris?: unknown;
};

export function isLoopbackRedirect(uri: string): boolean {
  const url = URL.parse(uri);
  // https on a loopback host is no better: any local program can listen there too.
  return url !== null && (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.has(url.hostname);
}

export function clientTraits(client: ClientLike): ClientTraits {
  const origin = client.agent_origin === 'cimd' || client.agent_origin === 'dcr' ? client.agent_origin : 'admin';
  const method = client.token_endpoint_auth_method ?? client.tokenEndpointAuthMethod;
  const redirects = (Array.isArray(client.redirect_uris) ? client.redirect_uris : Array.isArray(client.redirectUris) ? client.redirectUris : []) as unknown[];
  const uris = redirects.filter((uri): uri is string => typeof uri === 'string');
  return {
    origin,
    dynamic: origin !== 'admin',
    publicClient: method === 'none',
    loopbackOnly: uris.length > 0 && uris.every(isLoopbackRedirect),
  };
}
