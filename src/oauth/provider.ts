// The oidc-provider instance: the OAuth 2.0 / OpenID Connect protocol engine. This file is the documented
// configuration of what the server speaks; domain decisions live in their own modules and are wired in here.
import Provider, { type Configuration, type JWK } from 'oidc-provider';
import type { AdapterFactory } from './adapter.js';

export type ProviderOptions = {
  issuer: string;
  adapter: AdapterFactory;
  /** Private signing keys (JWK), newest first; the first is the one that signs. */
  signingKeys: JWK[];
  /** Keys for signed cookies, newest first. */
  cookieKeys: string[];
  trustProxy: boolean;
};

export function createProvider(options: ProviderOptions): Provider {
  const configuration: Configuration = {
    adapter: options.adapter,
    jwks: { keys: options.signingKeys },
    cookies: {
      keys: options.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    clientDefaults: {
      id_token_signed_response_alg: 'ES256',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256', 'EdDSA', 'RS256', 'PS256'],
    },
    features: {
      devInteractions: { enabled: false },
    },
    pkce: { required: () => true },
    responseTypes: ['code'],
  };
  const provider = new Provider(options.issuer, configuration);
  provider.proxy = options.trustProxy;
  return provider;
}
