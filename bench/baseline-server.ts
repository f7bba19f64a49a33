// The fair peer: an in-memory oidc-provider (no database) configured to issue what agentauth issues, so the ratio
// measures agentauth's own costs: ES256-signed RFC 9068 JWT access tokens for a resource indicator, clients
// authenticated with client_secret_basic, client credentials. Run by bench/run.ts as a separate process.
// With a database URL as its third argument it is the durability floor instead: the same peer, whose every token is
// recorded before the response through agentauth's own group-committed issuance statement (payload, record and audit
// event in one commit, src/tokens/issued-token-store.ts), and nothing else of agentauth's: no client, resource or
// policy reads, no audit chain. What that costs the peer is what durability alone costs inside oidc-provider.
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { createIssuedTokenStore, type IssuanceRow } from '../src/tokens/issued-token-store.js';

const port = Number(process.argv[2] ?? 0);
const resource = process.argv[3] ?? 'https://files.bench.test';
const databaseUrl = process.argv[4];
const { privateKey } = await generateKeyPair('ES256', { extractable: true });

type Issued = { jti: string; clientId: string; scope?: string; exp?: number; iat?: number };
/**
 * The floor's one write per token: the rows agentauth's recorder writes for a client-credentials token, on a pool
 * opened as agentauth opens its own (src/db/client.ts: its size in the bench, its session settings). Imported only for
 * the floor, so the plain peer (no database URL) loads nothing of agentauth's database layer.
 */
async function recorder(url: string): Promise<(token: Issued) => Promise<void>> {
  const { connectDatabase } = await import('../src/db/client.js');
  const { createLogger } = await import('../src/observability/logger.js');
  const { record } = createIssuedTokenStore(connectDatabase(url, createLogger('warn'), 20).pool);
  return (token) => {
    const now = Math.floor(Date.now() / 1000);
    const scopes = token.scope ? token.scope.split(' ') : [];
    const iso = (s: number) => new Date(s * 1000).toISOString();
    const row: IssuanceRow = {
      payload: { model: 'ClientCredentials', id: token.jti, value: token, grantId: null, userCode: null, uid: null, expiresAt: iso(token.exp ?? now) },
      record: {
        jti: token.jti, kind: 'access_token', format: 'jwt', parentJti: null, subject: token.clientId, subjectKind: 'app', actorChain: [],
        clientId: token.clientId, scopes, audience: resource, resource, grantType: 'client_credentials', grantId: null, approvalId: null,
        dpopJkt: null, issuedAt: iso(token.iat ?? now), expiresAt: iso(token.exp ?? now), decision: null,
      },
      event: {
        action: 'token.issued', outcome: 'success', actorKind: 'app', actorId: token.clientId, userId: null, agentId: null, actorChain: null,
        clientId: token.clientId, requestId: randomUUID(), ip: '127.0.0.1',
        details: { jti: token.jti, token_kind: 'access_token', format: 'jwt', grant_type: 'client_credentials', subject_kind: 'app', scopes, audience: resource },
      },
    };
    return record(row);
  };
}
const record = databaseUrl ? await recorder(databaseUrl) : undefined;

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
  ...(record && {
    formats: {
      customizers: {
        // oidc-provider awaits the customizer before it signs: the response waits for this token's commit.
        async jwt(_ctx, token, jwt) {
          await record({ ...(token as unknown as Issued), iat: jwt.payload.iat as number, exp: jwt.payload.exp as number });
        },
      },
    },
  }),
});
createServer(provider.callback()).listen(port, '127.0.0.1');
// A clean exit on the bench's SIGTERM, so that `--cpu-prof` (a profile of the peer, for comparison) gets written.
process.on('SIGTERM', () => process.exit(0));
