// RFC 8693 token exchange through a real OAuth client (openid-client) against the running server: every rule of
// delegation refuses what it must, and what is issued names the human as subject and the agents as actors.
import * as client from 'openid-client';
import { calculateJwkThumbprint, createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, decodeJwt, type JWTPayload } from 'jose';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintHumanToken } from '../support/tokens.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const API = 'https://files.example.test';
const OTHER = 'https://other.example.test';

type Agent = { id: string; secret: string };
let server: TestServer;
let alice: string;
let A: Agent, B: Agent, C: Agent, D: Agent, E: Agent;
let jwks: ReturnType<typeof createRemoteJWKSet>;

async function agent(name: string, approve: string[] | null): Promise<Agent> {
  const { agent: created, clientSecret } = await server.stores.agents.create({
    name,
    ownerUserId: alice,
    scopes: ['files:read', 'files:write', 'files:delete'],
    audiences: [API],
    maxTokenTtl: 300,
    tokenEndpointAuthMethod: 'client_secret_basic',
  });
  if (approve) await server.stores.approvals.create({ userId: alice, agentId: created.id, scopes: approve, resources: [API], grantedVia: 'admin' });
  return { id: created.id, secret: clientSecret! };
}

beforeAll(async () => {
  server = await startTestServer();
  jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  await server.stores.resources.create({
    identifier: API,
    name: 'Files',
    scopes: [
      { name: 'files:read', description: 'Read your files' },
      { name: 'files:write', description: 'Change your files' },
      { name: 'files:delete', description: 'Delete your files', requires_approval: true },
    ],
    access_token_ttl: 600,
  });
  await server.stores.resources.create({ identifier: OTHER, name: 'Other', scopes: [{ name: 'other:read', description: 'Read other things' }] });
  alice = (await server.stores.users.create({ username: 'alice', password: 'correct horse battery staple' })).id;
  A = await agent('Agent A', ['files:read', 'files:write']);
  B = await agent('Agent B', ['files:read']);
  C = await agent('Agent C', ['files:read']);
  D = await agent('Agent D', ['files:read']);
  E = await agent('Agent E (never approved)', null);
}, 60_000);
afterAll(async () => {
  await server.stop();
});

const configFor = (a: Agent, secret = a.secret) =>
  client.discovery(new URL(server.issuer), a.id, undefined, client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] });

async function exchange(a: Agent, params: Record<string, string>, options?: client.DPoPOptions) {
  return client.genericGrantRequest(await configFor(a), GRANT, { subject_token_type: AT, ...params }, options);
}

async function refusal(promise: Promise<unknown>): Promise<{ error: string; error_description: string }> {
  const error = (await promise.then(
    () => {
      throw new Error('expected the exchange to be refused');
    },
    (e: unknown) => e,
  )) as { error: string; error_description: string };
  return { error: error.error, error_description: error.error_description };
}

const humanToken = (clientId: string, scopes = ['files:read', 'files:write'], extra: { lifetime?: number; jkt?: string } = {}) =>
  mintHumanToken(server, { userId: alice, clientId, resource: API, scopes, ...extra });

const claims = async (token: string) => (await jwtVerify(token, jwks, { issuer: server.issuer, typ: 'at+jwt' })).payload as JWTPayload & Record<string, unknown>;

describe('a permitted exchange', () => {
  it('issues a short-lived JWT for the resource: sub is the human, act is the agent, scope as asked', async () => {
    const subject = await humanToken(A.id);
    const response = await exchange(A, { subject_token: subject, resource: API, scope: 'files:read' });
    expect(response).toMatchObject({ issued_token_type: AT, token_type: 'bearer', scope: 'files:read' });
    expect(response.refresh_token).toBeUndefined();
    const token = await claims(response.access_token);
    expect(token).toMatchObject({
      sub: alice,
      sub_profile: 'user',
      client_id: A.id,
      aud: API,
      scope: 'files:read',
      act: { sub: A.id, sub_profile: 'ai_agent' },
    });
    expect(token.exp! - token.iat!).toBeLessThanOrEqual(300);

    const record = await server.db.prisma.issuedToken.findUnique({ where: { jti: token.jti! } });
    expect(record).toMatchObject({ subject: alice, subjectKind: 'human', clientId: A.id, grantType: GRANT, parentJti: decodeJwt(subject).jti });
    expect(record?.actorChain).toEqual([{ sub: A.id, kind: 'agent' }]);
    expect(record?.approvalId).toEqual(expect.any(String));
  });

  it('without scope, gives the whole intersection of subject, ceiling and approval, never a requires_approval scope', async () => {
    const subject = await humanToken(A.id, ['files:read', 'files:write', 'files:delete']);
    const token = await claims((await exchange(A, { subject_token: subject, resource: API })).access_token);
    expect(String(token.scope).split(' ').sort()).toEqual(['files:read', 'files:write']);
  });

  it('a re-exchange by the current actor keeps act as it is (no self-nesting)', async () => {
    const first = (await exchange(A, { subject_token: await humanToken(A.id), resource: API })).access_token;
    const second = await claims((await exchange(A, { subject_token: first, resource: API, scope: 'files:read' })).access_token);
    expect(second.act).toEqual({ sub: A.id, sub_profile: 'ai_agent' });
  });

  it('caps the lifetime at the smallest of request, agent maximum, resource and the subject’s remaining life', async () => {
    const long = await claims((await exchange(A, { subject_token: await humanToken(A.id), resource: API, requested_lifetime: '100000' })).access_token);
    expect(long.exp! - long.iat!).toBe(300); // agent maximum (resource allows 600)
    const asked = await claims((await exchange(A, { subject_token: await humanToken(A.id), resource: API, requested_lifetime: '45' })).access_token);
    expect(asked.exp! - asked.iat!).toBe(45);
    const shortSubject = await humanToken(A.id, ['files:read'], { lifetime: 40 });
    const capped = await claims((await exchange(A, { subject_token: shortSubject, resource: API })).access_token);
    expect(capped.exp!).toBeLessThanOrEqual(decodeJwt(shortSubject).exp!);
  });

  it('advertises the grant in discovery', async () => {
    const metadata = (await (await fetch(`${server.issuer}/.well-known/oauth-authorization-server`)).json()) as { grant_types_supported: string[] };
    expect(metadata.grant_types_supported).toContain(GRANT);
  });
});

describe('refusals', () => {
  it('escalation: a scope the human did not approve for this agent', async () => {
    const subject = await humanToken(B.id, ['files:read', 'files:write']);
    const result = await refusal(exchange(B, { subject_token: subject, resource: API, scope: 'files:write' }));
    expect(result.error).toBe('invalid_scope');
    expect(result.error_description).toMatch(/not approved files:write/);
  });

  it('escalation: a scope the subject token does not carry', async () => {
    const subject = await humanToken(A.id, ['files:read']);
    expect((await refusal(exchange(A, { subject_token: subject, resource: API, scope: 'files:write' }))).error).toBe('invalid_scope');
  });

  it('a requires_approval scope is never issued from a standing approval', async () => {
    const subject = await humanToken(A.id, ['files:read', 'files:delete']);
    const result = await refusal(exchange(A, { subject_token: subject, resource: API, scope: 'files:delete' }));
    expect(result).toMatchObject({ error: 'invalid_scope', error_description: expect.stringMatching(/fresh approval/) });
  });

  it('an audience outside the agent’s allowed audiences', async () => {
    const subject = await humanToken(A.id);
    expect((await refusal(exchange(A, { subject_token: subject, resource: OTHER }))).error).toBe('invalid_target');
    expect((await refusal(exchange(A, { subject_token: subject, resource: 'https://unregistered.example.test' }))).error).toBe('invalid_target');
  });

  it('an expired subject token', async () => {
    const subject = await humanToken(A.id, ['files:read'], { lifetime: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const result = await refusal(exchange(A, { subject_token: subject, resource: API }));
    expect(result).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/expired/) });
  });

  it('a revoked subject token', async () => {
    const subject = await humanToken(A.id);
    await server.stores.revocation.revoke({ jti: decodeJwt(subject).jti! }, { actor: { kind: 'system' } });
    const result = await refusal(exchange(A, { subject_token: subject, resource: API }));
    expect(result).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/revoked/) });
  });

  it('a forged subject token', async () => {
    const genuine = decodeJwt(await humanToken(A.id));
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT(genuine).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(privateKey);
    expect((await refusal(exchange(A, { subject_token: forged, resource: API }))).error).toBe('invalid_grant');
  });

  it('a foreign subject token (issued to another agent, not addressed to this one)', async () => {
    const subject = await humanToken(B.id, ['files:read']);
    const result = await refusal(exchange(A, { subject_token: subject, resource: API }));
    expect(result).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/neither issued to this agent/) });
  });

  it('the agent’s own client-credentials token as subject', async () => {
    const own = await client.clientCredentialsGrant(await configFor(A), { scope: 'files:read', resource: API });
    const result = await refusal(exchange(A, { subject_token: own.access_token, resource: API }));
    expect(result).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/must stand for a human/) });
  });

  it('a DPoP-bound subject token without a proof of the same key; with one it works and the new token is bound', async () => {
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    const subject = await humanToken(A.id, ['files:read'], { jkt });
    expect((await refusal(exchange(A, { subject_token: subject, resource: API }))).error).toBe('invalid_grant');
    const other = await client.randomDPoPKeyPair('ES256');
    const config = await configFor(A);
    expect((await refusal(exchange(A, { subject_token: subject, resource: API }, { DPoP: client.getDPoPHandle(config, other) }))).error).toBe('invalid_grant');
    const bound = await exchange(A, { subject_token: subject, resource: API }, { DPoP: client.getDPoPHandle(config, keyPair) });
    expect(bound.token_type).toBe('dpop');
    expect((await claims(bound.access_token)).cnf).toEqual({ jkt });
  });

  it('an actor token that is not the calling agent’s', async () => {
    const subject = await humanToken(A.id);
    const otherAgentToken = (await client.clientCredentialsGrant(await configFor(B), { scope: 'files:read', resource: API })).access_token;
    const result = await refusal(exchange(A, { subject_token: subject, resource: API, actor_token: otherAgentToken, actor_token_type: AT }));
    expect(result).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/actor_token/) });
    const ownToken = (await client.clientCredentialsGrant(await configFor(A), { scope: 'files:read', resource: API })).access_token;
    await expect(exchange(A, { subject_token: subject, resource: API, actor_token: ownToken, actor_token_type: AT })).resolves.toMatchObject({ issued_token_type: AT });
  });

  it('a missing approval, saying how to get one', async () => {
    const subject = await humanToken(E.id, ['files:read']);
    const result = await refusal(exchange(E, { subject_token: subject, resource: API }));
    expect(result).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/has not approved agent .*\(CIBA\)/) });
  });

  it('missing parameters and unsupported token types: invalid_request', async () => {
    expect((await refusal(exchange(A, { resource: API }))).error).toBe('invalid_request');
    expect((await refusal(exchange(A, { subject_token: 'x', subject_token_type: 'urn:ietf:params:oauth:token-type:saml2', resource: API }))).error).toBe('invalid_request');
  });

  it('records the refusal and the rule that refused it in the audit log', async () => {
    await refusal(exchange(E, { subject_token: await humanToken(E.id, ['files:read']), resource: API }));
    const events = await server.db.prisma.auditEvent.findMany({ where: { action: 'token_exchange.refused', agentId: E.id } });
    expect(events.length).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ actorKind: 'agent', outcome: 'failure', details: expect.objectContaining({ rule: 'no_approval' }) });
  });
});

describe('delegation chains', () => {
  it('A → B → C: act nests (current actor outermost) and scope only narrows', async () => {
    const subject = await humanToken(A.id, ['files:read', 'files:write']);
    const toB = await exchange(A, { subject_token: subject, audience: B.id, resource: API, scope: 'files:read' });
    const toBClaims = await claims(toB.access_token);
    expect(toBClaims).toMatchObject({ aud: B.id, sub: alice, act: { sub: A.id } });

    const bAtApi = await claims((await exchange(B, { subject_token: toB.access_token, resource: API })).access_token);
    expect(bAtApi).toMatchObject({ aud: API, sub: alice, client_id: B.id, scope: 'files:read', act: { sub: B.id, act: { sub: A.id } } });

    const toC = await exchange(B, { subject_token: toB.access_token, audience: C.id, resource: API });
    const cAtApi = await claims((await exchange(C, { subject_token: toC.access_token, resource: API })).access_token);
    expect(cAtApi.act).toEqual({
      sub: C.id,
      sub_profile: 'ai_agent',
      act: { sub: B.id, sub_profile: 'ai_agent', act: { sub: A.id, sub_profile: 'ai_agent' } },
    });
    expect(cAtApi.scope).toBe('files:read');
  });

  it('delegating needs the human’s approval of the next agent too', async () => {
    const subject = await humanToken(A.id);
    const result = await refusal(exchange(A, { subject_token: subject, audience: E.id, resource: API, scope: 'files:read' }));
    expect(result.error_description).toMatch(new RegExp(`not approved agent ${E.id}`));
  });

  it('a next agent cannot widen what it was delegated', async () => {
    const toB = await exchange(A, { subject_token: await humanToken(A.id), audience: B.id, resource: API, scope: 'files:read' });
    expect((await refusal(exchange(B, { subject_token: toB.access_token, resource: API, scope: 'files:write' }))).error).toBe('invalid_scope');
  });

  it('refuses a cycle back to an agent already in the chain', async () => {
    const toB = await exchange(A, { subject_token: await humanToken(A.id), audience: B.id, resource: API, scope: 'files:read' });
    const backToA = await exchange(B, { subject_token: toB.access_token, audience: A.id, resource: API });
    const result = await refusal(exchange(A, { subject_token: backToA.access_token, resource: API }));
    expect(result).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/chain cannot loop/) });
  });

  it('limits the depth of a chain (3 agents by default)', async () => {
    const toB = await exchange(A, { subject_token: await humanToken(A.id), audience: B.id, resource: API, scope: 'files:read' });
    const toC = await exchange(B, { subject_token: toB.access_token, audience: C.id, resource: API });
    const toD = await exchange(C, { subject_token: toC.access_token, audience: D.id, resource: API });
    expect((await claims(toD.access_token)).act).toMatchObject({ sub: C.id, act: { sub: B.id, act: { sub: A.id } } });
    const result = await refusal(exchange(D, { subject_token: toD.access_token, resource: API }));
    expect(result).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/limited to 3 agents/) });
  });

  it('revoking the approval mid-way stops the next exchange and the tokens issued under it', async () => {
    const F = await agent('Agent F', ['files:read']);
    const issued = await exchange(F, { subject_token: await humanToken(F.id, ['files:read']), resource: API });
    const approval = (await server.stores.approvals.list({ limit: 10, agentId: F.id })).items[0]!;
    const { revoked } = await server.stores.revocation.revoke({ approvalId: approval.id }, { actor: { kind: 'human', id: alice } });
    expect(revoked).toBeGreaterThanOrEqual(1);
    expect((await refusal(exchange(F, { subject_token: await humanToken(F.id, ['files:read']), resource: API }))).error).toBe('invalid_grant');
    const introspection = await client.tokenIntrospection(await configFor(F), issued.access_token);
    expect(introspection.active).toBe(false);
  });
});

describe('agent credentials and the kill switch', () => {
  it('a rotated secret stops working on the next request', async () => {
    const G = await agent('Agent G', ['files:read']);
    await expect(client.clientCredentialsGrant(await configFor(G), { scope: 'files:read', resource: API })).resolves.toMatchObject({ token_type: 'bearer' });
    const fresh = await server.stores.agents.rotateSecret(G.id);
    const old = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${G.id}:${G.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'files:read', resource: API }),
    });
    expect(old.status).toBe(401);
    expect(await old.json()).toMatchObject({ error: 'invalid_client' });
    await expect(client.clientCredentialsGrant(await configFor(G, fresh), { scope: 'files:read', resource: API })).resolves.toMatchObject({ token_type: 'bearer' });
  });

  it('a suspended agent is refused at once and its tokens die', async () => {
    const H = await agent('Agent H', ['files:read']);
    const issued = await exchange(H, { subject_token: await humanToken(H.id, ['files:read']), resource: API });
    await server.stores.revocation.suspendAgent(H.id, { actor: { kind: 'admin', id: 'test' } });
    const err = await exchange(H, { subject_token: await humanToken(A.id, ['files:read']), resource: API }).catch((e: unknown) => e);
    expect(JSON.stringify(err)).toMatch(/invalid_client/);
    const record = await server.db.prisma.issuedToken.findUnique({ where: { jti: decodeJwt(issued.access_token).jti! } });
    expect(record?.revokedAt).not.toBeNull();
  });
});
