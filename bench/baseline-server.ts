// The fair peer: an in-memory oidc-provider (no database) configured to issue what agentauth issues, so the ratio
// measures agentauth's own costs: ES256-signed RFC 9068 JWT access tokens for a resource indicator, clients
// authenticated with client_secret_basic, client credentials. Run by bench/run.ts as a separate process.
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 0);
const resource = process.argv[3] ?? 'https://files.bench.test';
const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const provider = new Provider(`http://127.0.0.1:${port}`, {
  jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'bench' }] },
  clients: [{
    client_id: 'bench', client_secret: 'bench-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf ?? resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'files:read', accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'ES256' } } }),
    },
  },
});
createServer(provider.callback()).listen(port, '127.0.0.1');
// A clean exit on the bench's SIGTERM, so that `--cpu-prof` (a profile of the peer, for comparison) gets written.
process.on('SIGTERM', () => process.exit(0));
