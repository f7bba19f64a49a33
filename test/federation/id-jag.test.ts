// Enterprise-Managed Authorization (draft-ietf-oauth-identity-assertion-authz-grant, ID-JAG) on both sides, over real
// HTTP with a real OAuth client (openid-client): a resource authorization server redeeming ID-JAGs from a trusted
// enterprise IdP (jwt-bearer grant), and two agentauth servers, one the enterprise IdP, one the resource's
// authorization server, completing the cross-app flow end to end.
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';

type KeyLike = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
import { randomUUID } from 'node:crypto';
import { adminClient, startAdminServer, type AdminServer } from '../admin/support.js';
import { authorize, humanBrowser, redeem } from '../support/policy-drivers.js';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const CHAT = 'https://chat.example.test/api';
const IDP = 'https://idp.example.test';

type Credentials = { id: string; secret: string };

async function setUpResourceServer(server: AdminServer) {
  const admin = adminClient(server, server.adminKey);
  const created = await admin('POST', '/resources', {
    identifier: CHAT,
    name: 'Chat',
    scopes: [
      { name: 'chat.read', description: 'Read your messages' },
      { name: 'chat.history', description: 'Read your message history' },
      { name: 'chat.write', description: 'Send messages as you' },
      { name: 'chat.delete', description: 'Delete messages', requires_approval: true },
    ],
  });
  expect(created.status).toBe(201);
  return admin;
}

async function newAgent(admin: ReturnType<typeof adminClient>, owner: string, scopes: string[], extra: Record<string, unknown> = {}): Promise<Credentials> {
  const response = await admin('POST', '/agents', { name: `agent ${randomUUID().slice(0, 8)}`, owner_user_id: owner, scopes, audiences: [CHAT], token_endpoint_auth_method: 'client_secret_basic', ...extra });
  expect(response.status).toBe(201);
  return { id: response.body.id, secret: response.body.client_secret };
}

const configFor = (server: { issuer: string }, who: Credentials) =>
  client.discovery(new URL(server.issuer), who.id, undefined, client.ClientSecretBasic(who.secret), { execute: [client.allowInsecureRequests] });

async function refusal(promise: Promise<unknown>): Promise<{ error: string; description: string; status: number | undefined }> {
  const error = (await promise.then(() => { throw new Error('expected a refusal'); }, (e: unknown) => e)) as { error: string; error_description: string; status?: number };
  return { error: error.error, description: error.error_description, status: error.status };
}

describe('redeeming ID-JAGs from a trusted enterprise IdP (jwt-bearer grant)', () => {
  let server: AdminServer;
  let admin: ReturnType<typeof adminClient>;
  let idpKey: KeyLike;
  let idpJwk: JWK;
  let strangerKey: KeyLike;
  let human: string;
  let agent: Credentials;
  let other: Credentials;

  beforeAll(async () => {
    server = await startAdminServer();
    admin = await setUpResourceServer(server);
    const pair = await generateKeyPair('ES256', { extractable: true });
    idpKey = pair.privateKey;
    idpJwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
    strangerKey = (await generateKeyPair('ES256')).privateKey;
    expect((await admin('POST', '/trusted-issuers', { issuer: IDP, name: 'Acme IdP', jwks: { keys: [idpJwk] }, purposes: ['id_jag'] })).status).toBe(201);
    const user = await admin('POST', '/users', { username: 'carol', password: 'correct horse battery staple', external_identities: [{ issuer: IDP, subject: 'U019488227' }] });
    expect(user.status).toBe(201);
    human = user.body.id;
    agent = await newAgent(admin, human, ['chat.read', 'chat.history', 'chat.delete']);
    other = await newAgent(admin, human, ['chat.read']);
  }, 60_000);
  afterAll(async () => server?.stop());

  const idJag = (claims: Record<string, unknown> = {}, options: { key?: KeyLike; typ?: string; lifetime?: number } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ client_id: agent.id, resource: CHAT, scope: 'chat.read chat.history', jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ: options.typ ?? 'oauth-id-jag+jwt' })
      .setIssuer(String(claims.iss ?? IDP))
      .setSubject(String(claims.sub ?? 'U019488227'))
      .setAudience((claims.aud as string | undefined) ?? server.issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + (options.lifetime ?? 300))
      .sign(options.key ?? idpKey);
  };
  const redeemAs = async (who: Credentials, assertion: string, params: Record<string, string> = {}) =>
    client.genericGrantRequest(await configFor(server, who), JWT_BEARER, { assertion, ...params });

  it('advertises the jwt-bearer grant and the ID-JAG profile', async () => {
    const metadata = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata.grant_types_supported).toContain(JWT_BEARER);
    expect(metadata.authorization_grant_profiles_supported).toEqual(['urn:ietf:params:oauth:grant-profile:id-jag']);
    expect(metadata.identity_chaining_requested_token_types_supported).toEqual([ID_JAG]);
  });

  it('issues an access token for the resource: sub the linked human, act the agent, scopes the ID-JAG grants; recorded as a revocable approval', async () => {
    const assertion = await idJag();
    const response = await redeemAs(agent, assertion);
    expect(response.refresh_token).toBeUndefined();
    expect(response.scope).toBe('chat.read chat.history');
    const jwks = createRemoteJWKSet(new URL(`${server.url}/jwks`));
    const { payload } = await jwtVerify(response.access_token, jwks, { issuer: server.issuer, audience: CHAT, typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: human, client_id: agent.id, act: { sub: agent.id }, scope: 'chat.read chat.history' });

    const approvals = await admin('GET', `/approvals?user_id=${human}&agent_id=${agent.id}`);
    const approval = approvals.body.items.find((a: { granted_via: string }) => a.granted_via === 'id_jag');
    expect(approval).toMatchObject({ granted_via: 'id_jag', issuer: IDP, scopes: ['chat.read', 'chat.history'], resources: [CHAT], status: 'active' });
    const record = await admin('GET', `/tokens/${payload.jti}`);
    expect(record.body.approval_id).toBe(approval.id);
    const events = await server.db.prisma.auditEvent.findMany({ where: { action: 'approval.id_jag', agentId: agent.id } });
    expect(events.map((e) => (e.details as { issuer: string }).issuer)).toContain(IDP);

    // Withdrawing the approval the ID-JAG stands for revokes the token at once.
    expect((await admin('DELETE', `/approvals/${approval.id}`)).status).toBe(200);
    const introspected = await client.tokenIntrospection(await configFor(server, agent), response.access_token);
    expect(introspected.active).toBe(false);
  });

  it('narrows to what is asked, within the ID-JAG and the ceiling', async () => {
    const response = await redeemAs(agent, await idJag(), { scope: 'chat.read' });
    expect(response.scope).toBe('chat.read');
  });

  it('is single-use: a second redemption of the same ID-JAG is invalid_grant', async () => {
    const assertion = await idJag();
    await redeemAs(agent, assertion);
    const replay = await refusal(redeemAs(agent, assertion));
    expect(replay.error).toBe('invalid_grant');
    expect(replay.description).toMatch(/already redeemed/);
  });

  it('refuses an ID-JAG addressed to another authorization server', async () => {
    const refused = await refusal(redeemAs(agent, await idJag({ aud: 'https://elsewhere.example.test' })));
    expect(refused).toMatchObject({ error: 'invalid_grant' });
    expect(refused.description).toMatch(/not addressed to this authorization server/);
  });

  it('refuses an ID-JAG issued for another client (client continuity)', async () => {
    const refused = await refusal(redeemAs(other, await idJag({ client_id: agent.id })));
    expect(refused.error).toBe('invalid_grant');
    expect(refused.description).toMatch(/issued for client/);
  });

  it('refuses a subject linked to no human here (never matched by e-mail)', async () => {
    const refused = await refusal(redeemAs(agent, await idJag({ sub: 'U-nobody', email: 'carol@example.test' })));
    expect(refused.error).toBe('invalid_grant');
    expect(refused.description).toMatch(/linked to no user/);
  });

  it('refuses a scope beyond the client ceiling, and never yields a requires_approval scope', async () => {
    const beyond = await refusal(redeemAs(agent, await idJag({ scope: 'chat.read chat.write' }), { scope: 'chat.write' }));
    expect(beyond.error).toBe('invalid_scope');
    expect(beyond.description).toMatch(/outside the scope ceiling/);
    const stepUp = await refusal(redeemAs(agent, await idJag({ scope: 'chat.read chat.delete' }), { scope: 'chat.delete' }));
    expect(stepUp.error).toBe('invalid_scope');
    expect(stepUp.description).toMatch(/never carries it/);
    // Asked for nothing: the most allowed, the approval-only scope left out.
    expect((await redeemAs(agent, await idJag({ scope: 'chat.read chat.delete' }))).scope).toBe('chat.read');
  });

  it('refuses a scope the ID-JAG does not grant', async () => {
    const refused = await refusal(redeemAs(agent, await idJag({ scope: 'chat.read' }), { scope: 'chat.history' }));
    expect(refused.error).toBe('invalid_scope');
    expect(refused.description).toMatch(/does not grant chat\.history/);
  });

  it('refuses an untrusted issuer, a stranger key, an expired ID-JAG and a JWT that is not an ID-JAG', async () => {
    expect((await refusal(redeemAs(agent, await idJag({ iss: 'https://evil.example.test' })))).description).toMatch(/not trusted/);
    expect((await refusal(redeemAs(agent, await idJag({}, { key: strangerKey })))).description).toMatch(/not signed by one of its issuer's keys/);
    expect((await refusal(redeemAs(agent, await idJag({}, { lifetime: -120 })))).description).toMatch(/expired/);
    expect((await refusal(redeemAs(agent, await idJag({}, { typ: 'JWT' })))).description).toMatch(/not an ID-JAG/);
    expect((await refusal(redeemAs(agent, 'not-a-jwt'))).error).toBe('invalid_grant');
  });

  it('leaves no approval behind for a refused redemption', async () => {
    const before = await server.db.prisma.approval.count({ where: { grantedVia: 'id_jag' } });
    await refusal(redeemAs(agent, await idJag({ scope: 'chat.read' }), { scope: 'chat.history' }));
    expect(await server.db.prisma.approval.count({ where: { grantedVia: 'id_jag' } })).toBe(before);
  });
});

describe('two agentauth servers: one the enterprise IdP, one the resource authorization server', () => {
  let idp: AdminServer;
  let as: AdminServer;

  beforeAll(async () => {
    [idp, as] = await Promise.all([startAdminServer(), startAdminServer()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([idp?.stop(), as?.stop()]);
  });

  it('an agent signed in at the IdP gets an ID-JAG there and redeems it at the resource AS, no second consent', async () => {
    const atIdp = adminClient(idp, idp.adminKey);
    const atAs = await setUpResourceServer(as);

    // The resource's authorization server: trusts the IdP's keys for ID-JAGs, knows the human by the IdP's subject.
    const idpJwks = await (await fetch(`${idp.url}/jwks`)).json();
    expect((await atAs('POST', '/trusted-issuers', { issuer: idp.issuer, jwks: idpJwks, purposes: ['id_jag'], allowed_resources: [CHAT] })).status).toBe(201);

    // The IdP: the human, and the remote resource served by the other server.
    const alice = await atIdp('POST', '/users', { username: 'alice', password: 'correct horse battery staple' });
    expect((await atIdp('POST', '/resources', { identifier: CHAT, name: 'Chat (remote)', authorization_server: as.issuer, scopes: [{ name: 'chat.read', description: 'Read your messages' }, { name: 'chat.history', description: 'Read your message history' }] })).status).toBe(201);
    const bob = await atAs('POST', '/users', { username: 'alice-at-chat', password: 'correct horse battery staple', external_identities: [{ issuer: idp.issuer, subject: alice.body.id }] });
    expect(bob.status).toBe(201);
    const atChat = await newAgent(atAs, bob.body.id, ['chat.read', 'chat.history']);

    // The agent at the IdP (a code-flow client), with its client id at the resource AS.
    const redirectUri = 'https://agent.example.test/callback';
    const agentAtIdp = await atIdp('POST', '/agents', {
      name: 'Wiki assistant', owner_user_id: alice.body.id, scopes: ['chat.read', 'chat.history'], audiences: [CHAT], token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [redirectUri], remote_client_ids: [{ authorization_server: as.issuer, client_id: atChat.id }],
    });
    expect(agentAtIdp.status).toBe(201);
    const wiki = { id: agentAtIdp.body.id, secret: agentAtIdp.body.client_secret };

    // 1. SSO at the IdP, where the human approves the agent at the remote resource on the consent page: the code
    // yields an ID token (and no access token of the IdP for the remote resource).
    const idpConfig = await configFor(idp, wiki);
    const human = humanBrowser(idp, { username: 'alice', password: 'correct horse battery staple' });
    const asked = await authorize(idp, human, idpConfig, { redirectUri, scope: 'openid chat.read', resource: CHAT }, false);
    // The consent page says plainly that the service is run elsewhere and who grants access to it.
    expect(asked.kind).toBe('consent');
    expect((asked as Extract<typeof asked, { kind: 'consent' }>).html).toContain(`This service is run elsewhere: the agent will use your approval to get access from ${as.issuer}.`);
    const end = await authorize(idp, human, idpConfig, { redirectUri, scope: 'openid chat.read', resource: CHAT }, true);
    expect(end.kind).toBe('code');
    const signedIn = await redeem(idpConfig, end as Extract<typeof end, { kind: 'code' }>);
    if (!signedIn.ok) throw new Error(`code redemption failed: ${JSON.stringify(signedIn)}`);
    const idToken = String(signedIn.body.id_token);
    const signInToken = String(signedIn.body.access_token);
    expect(signInToken.split('.')).toHaveLength(1);
    const consented = await atIdp('GET', `/approvals?agent_id=${wiki.id}`);
    expect(consented.body.items).toEqual([expect.objectContaining({ granted_via: 'consent', scopes: ['chat.read'], resources: [CHAT] })]);

    // A local access token for the remote resource is never issued: only an ID-JAG for its server.
    const local = await refusal(client.genericGrantRequest(idpConfig, EXCHANGE, { subject_token: idToken, subject_token_type: ID_TOKEN, resource: CHAT, audience: as.issuer }));
    expect(local.error).toBe('invalid_request');

    // 2. Token exchange at the IdP: an ID-JAG for the resource AS.
    const exchanged = await client.genericGrantRequest(idpConfig, EXCHANGE, {
      subject_token: idToken, subject_token_type: ID_TOKEN, requested_token_type: ID_JAG, audience: as.issuer, resource: CHAT, scope: 'chat.read',
    });
    expect(exchanged).toMatchObject({ issued_token_type: ID_JAG, token_type: 'n_a', scope: 'chat.read' });
    expect(decodeProtectedHeader(exchanged.access_token).typ).toBe('oauth-id-jag+jwt');
    const grant = decodeJwt(exchanged.access_token);
    expect(grant).toMatchObject({ iss: idp.issuer, sub: alice.body.id, aud: as.issuer, client_id: atChat.id, resource: CHAT, scope: 'chat.read' });
    const record = await atIdp('GET', `/tokens/${grant.jti}`);
    expect(record.body).toMatchObject({ kind: 'id_jag', subject: alice.body.id, client_id: wiki.id, audience: as.issuer, resource: CHAT });

    // 3. At the resource AS: the jwt-bearer grant, no consent screen.
    const redeemed = await client.genericGrantRequest(await configFor(as, atChat), JWT_BEARER, { assertion: exchanged.access_token });
    const { payload } = await jwtVerify(redeemed.access_token, createRemoteJWKSet(new URL(`${as.url}/jwks`)), { issuer: as.issuer, audience: CHAT, typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: bob.body.id, act: { sub: atChat.id }, scope: 'chat.read' });

    // Without the human's approval at the IdP, no ID-JAG.
    const approvals = await atIdp('GET', `/approvals?agent_id=${wiki.id}`);
    await atIdp('DELETE', `/approvals/${approvals.body.items[0].id}`);
    const withdrawn = await refusal(client.genericGrantRequest(idpConfig, EXCHANGE, {
      subject_token: idToken, subject_token_type: ID_TOKEN, requested_token_type: ID_JAG, audience: as.issuer, resource: CHAT,
    }));
    expect(withdrawn.error).toBe('invalid_grant');
  }, 60_000);
});
