// Workload identity federation over real HTTP with a real OAuth client (openid-client): an agent authenticates at the
// token endpoint with its platform's JWT (here shaped like a Kubernetes projected service-account token), signed by a
// trusted `workload` issuer, instead of a secret; anything else about the assertion, or about the agent, refuses it.
import * as client from 'openid-client';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';

type KeyLike = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
import { adminClient, startAdminServer, type AdminServer } from '../admin/support.js';

const API = 'https://files.example.test';
const CLUSTER = 'https://kubernetes.example.test';
const SUBJECT = 'system:serviceaccount:agents:report-writer';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let server: AdminServer;
let admin: ReturnType<typeof adminClient>;
let clusterKey: KeyLike;
let clusterJwk: JWK;
let agentId: string;

/** openid-client's client authentication with a platform assertion: RFC 7523 client_assertion, client_id optional. */
const platformAssertion = (assertion: string, clientId?: string): client.ClientAuth => (_as, _client, body) => {
  body.set('client_assertion_type', ASSERTION_TYPE);
  body.set('client_assertion', assertion);
  if (clientId === undefined) body.delete('client_id');
  else body.set('client_id', clientId);
};

async function serviceAccountToken(options: { iss?: string; sub?: string; aud?: string; lifetime?: number; notBefore?: number; key?: KeyLike } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const lifetime = options.lifetime ?? 600;
  const jwt = new SignJWT({ 'kubernetes.io': { namespace: 'agents', serviceaccount: { name: 'report-writer' } } })
    .setProtectedHeader({ alg: 'ES256', kid: 'cluster-1' })
    .setIssuer(options.iss ?? CLUSTER)
    .setSubject(options.sub ?? SUBJECT)
    .setAudience(options.aud ?? server.issuer)
    .setIssuedAt(lifetime > 0 ? now : now + lifetime - 60)
    .setExpirationTime(now + lifetime);
  if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore);
  return jwt.sign(options.key ?? clusterKey);
}

async function clientCredentials(assertion: string, clientId: string | undefined = agentId) {
  const config = await client.discovery(new URL(server.issuer), clientId ?? 'unused', undefined, platformAssertion(assertion, clientId), { execute: [client.allowInsecureRequests] });
  return client.clientCredentialsGrant(config, { resource: API });
}

async function refusal(promise: Promise<unknown>): Promise<{ error: string; description: string }> {
  const error = (await promise.then(() => { throw new Error('expected a refusal'); }, (e: unknown) => e)) as { error: string; error_description: string };
  return { error: error.error, description: error.error_description };
}

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  const pair = await generateKeyPair('ES256', { extractable: true });
  clusterKey = pair.privateKey;
  clusterJwk = { ...(await exportJWK(pair.publicKey)), kid: 'cluster-1', alg: 'ES256', use: 'sig' };
  expect((await admin('POST', '/resources', { identifier: API, name: 'Files', scopes: [{ name: 'files:read', description: 'Read files' }] })).status).toBe(201);
  expect((await admin('POST', '/trusted-issuers', { issuer: CLUSTER, name: 'Production cluster', jwks: { keys: [clusterJwk] }, purposes: ['workload'] })).status).toBe(201);
  const owner = await admin('POST', '/users', { username: 'owner', password: 'correct horse battery staple' });
  const created = await admin('POST', '/agents', {
    name: 'Report writer', owner_user_id: owner.body.id, scopes: ['files:read'], audiences: [API], workload_identities: [{ issuer: CLUSTER, subject: SUBJECT }],
  });
  expect(created.status).toBe(201);
  expect(created.body.client_secret).toBeUndefined();
  agentId = created.body.id;
}, 60_000);
afterAll(async () => server?.stop());

describe('an agent authenticating with its platform token', () => {
  it('gets a client-credentials token as itself, and the use is on the record', async () => {
    const response = await clientCredentials(await serviceAccountToken());
    const { payload } = await jwtVerify(response.access_token, createRemoteJWKSet(new URL(`${server.url}/jwks`)), { issuer: server.issuer, audience: API });
    expect(payload).toMatchObject({ sub: agentId, client_id: agentId, scope: 'files:read', sub_profile: 'ai_agent' });
    const uses = await server.db.prisma.auditEvent.findMany({ where: { action: 'agent.workload_authenticated', agentId } });
    expect(uses.length).toBeGreaterThan(0);
    expect(uses.at(-1)!.details).toMatchObject({ issuer: CLUSTER, subject: SUBJECT, endpoint: 'token' });
  });

  it('is found by its workload identity when the request names no client_id', async () => {
    const response = await clientCredentials(await serviceAccountToken(), undefined);
    expect(response.access_token).toBeTruthy();
  });

  it('may present the same platform token again within its life (reuse is by design), each use recorded', async () => {
    const token = await serviceAccountToken();
    const before = await server.db.prisma.auditEvent.count({ where: { action: 'agent.workload_authenticated', agentId } });
    await clientCredentials(token);
    await clientCredentials(token);
    expect(await server.db.prisma.auditEvent.count({ where: { action: 'agent.workload_authenticated', agentId } })).toBe(before + 2);
  });

  it('accepts the token endpoint URL as audience too', async () => {
    expect((await clientCredentials(await serviceAccountToken({ aud: `${server.issuer}/token` }))).access_token).toBeTruthy();
  });
});

describe('refused platform assertions (invalid_client)', () => {
  it('from an issuer that is not trusted', async () => {
    const refused = await refusal(clientCredentials(await serviceAccountToken({ iss: 'https://other-cluster.example.test' })));
    expect(refused.error).toBe('invalid_client');
  });

  it('with a subject that is no agent', async () => {
    const refused = await refusal(clientCredentials(await serviceAccountToken({ sub: 'system:serviceaccount:agents:someone-else' })));
    expect(refused).toMatchObject({ error: 'invalid_client' });
    expect(refused.description).toMatch(/no agent has the workload identity/);
  });

  it('that has expired, or is not valid yet', async () => {
    expect((await refusal(clientCredentials(await serviceAccountToken({ lifetime: -120 })))).description).toMatch(/expired/);
    expect((await refusal(clientCredentials(await serviceAccountToken({ notBefore: 600 })))).description).toMatch(/not valid yet/);
  });

  it('signed by a key the issuer does not publish', async () => {
    const stranger = (await generateKeyPair('ES256')).privateKey;
    expect((await refusal(clientCredentials(await serviceAccountToken({ key: stranger })))).description).toMatch(/not signed by one of its issuer's keys/);
  });

  it('addressed to another audience, or living longer than an hour', async () => {
    expect((await refusal(clientCredentials(await serviceAccountToken({ aud: 'https://elsewhere.example.test' })))).description).toMatch(/not addressed to this authorization server/);
    expect((await refusal(clientCredentials(await serviceAccountToken({ lifetime: 7200 })))).description).toMatch(/longer than 3600 seconds/);
  });

  it('typed as an ID-JAG, even from a trusted issuer with the right subject', async () => {
    const now = Math.floor(Date.now() / 1000);
    const idJag = await new SignJWT({ client_id: agentId, jti: 'jag-1' })
      .setProtectedHeader({ alg: 'ES256', kid: 'cluster-1', typ: 'oauth-id-jag+jwt' })
      .setIssuer(CLUSTER).setSubject(SUBJECT).setAudience(server.issuer).setIssuedAt(now).setExpirationTime(now + 300)
      .sign(clusterKey);
    const refused = await refusal(clientCredentials(idJag));
    expect(refused.error).toBe('invalid_client');
    expect(refused.description).toMatch(/not a client assertion/);
  });

  it('naming another client_id than its workload identity maps to', async () => {
    const refused = await refusal(clientCredentials(await serviceAccountToken(), 'someone-else'));
    expect(refused.error).toBe('invalid_client');
  });

  it('for a suspended agent; the same token works again once it is activated', async () => {
    const token = await serviceAccountToken();
    expect((await admin('POST', `/agents/${agentId}/suspend`)).status).toBe(200);
    try {
      expect((await refusal(clientCredentials(token))).error).toBe('invalid_client');
    } finally {
      expect((await admin('POST', `/agents/${agentId}/activate`)).status).toBe(200);
    }
    expect((await clientCredentials(token)).access_token).toBeTruthy();
  });

  it('and no secret authenticates the agent: not a guessed one, not the stand-in oidc-provider sees', async () => {
    for (const secret of ['aa_as_guess', 'workload-federation:assertions-only']) {
      const config = await client.discovery(new URL(server.issuer), agentId, undefined, client.ClientSecretPost(secret), { execute: [client.allowInsecureRequests] });
      expect((await refusal(client.clientCredentialsGrant(config, { resource: API }))).error).toBe('invalid_client');
    }
  });

  it('once the issuer is no longer trusted, its tokens authenticate nothing', async () => {
    const token = await serviceAccountToken();
    const issuers = await admin('GET', '/trusted-issuers');
    const id = issuers.body.items.find((i: { issuer: string }) => i.issuer === CLUSTER).id;
    expect((await admin('PATCH', `/trusted-issuers/${id}`, { purposes: ['id_jag'] })).status).toBe(200);
    try {
      expect((await refusal(clientCredentials(token))).error).toBe('invalid_client');
    } finally {
      expect((await admin('PATCH', `/trusted-issuers/${id}`, { purposes: ['workload'] })).status).toBe(200);
    }
  });
});
