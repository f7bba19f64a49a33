// Agents through the admin API, checked where it matters: at the token and introspection endpoints. A secret shown
// once works; rotation kills the old secret at once; suspension revokes live tokens and refuses new ones;
// activation restores access but no approval.
import * as client from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { adminClient, API, OTHER_API, seed, startAdminServer, type AdminCall, type AdminServer } from './support.js';

let server: AdminServer;
let admin: AdminCall;
let userId: string;
let resourceServer: { clientId: string; clientSecret?: string };

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  userId = (await seed(admin)).user.id;
  resourceServer = await server.stores.clients.createApp({
    name: 'Example API (resource server)',
    redirectUris: [],
    grantTypes: ['client_credentials'],
    authMethod: 'client_secret_basic',
    resourceServer: API,
  });
});
afterAll(async () => {
  await server.stop();
});

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A client_credentials token request with client_secret_basic, answered as status and body. */
async function tokenRequest(id: string, secret: string, resource = API, scope = 'files:read') {
  const response = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
  });
  return { status: response.status, body: (await response.json()) as { access_token?: string; error?: string } };
}

/** What the resource server learns about a token at the introspection endpoint. */
async function introspect(token: string): Promise<{ active: boolean } & Record<string, unknown>> {
  const response = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { authorization: basic(resourceServer.clientId, resourceServer.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  return (await response.json()) as { active: boolean };
}

async function createSecretAgent(name = 'Secret agent') {
  const response = await admin('POST', '/agents', {
    name,
    description: 'runs nightly',
    owner_user_id: userId,
    scopes: ['files:read', 'files:write'],
    audiences: [API],
    max_token_ttl: 120,
    token_endpoint_auth_method: 'client_secret_basic',
  });
  expect(response.status).toBe(201);
  return response.body as { id: string; client_secret: string };
}

it('creates an agent whose secret, shown once, gets tokens for its audiences only', async () => {
  const created = await admin('POST', '/agents', {
    name: 'Research agent',
    owner_user_id: userId,
    scopes: ['files:read'],
    audiences: [API],
    token_endpoint_auth_method: 'client_secret_basic',
  });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({
    id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    name: 'Research agent',
    owner_user_id: userId,
    status: 'active',
    scopes: ['files:read'],
    audiences: [API],
    token_endpoint_auth_method: 'client_secret_basic',
    jwks: null,
    redirect_uris: [],
    client_secret: expect.stringMatching(/^aa_as_/),
  });

  const issued = await tokenRequest(created.body.id, created.body.client_secret);
  expect(issued.status).toBe(200);
  expect(await introspect(issued.body.access_token!)).toMatchObject({ active: true, client_id: created.body.id, sub: created.body.id, sub_profile: 'ai_agent' });
  expect((await tokenRequest(created.body.id, created.body.client_secret, OTHER_API, 'mail:send')).body.error).toBe('invalid_target');

  // Shown once: never again in any read.
  const read = await admin('GET', `/agents/${created.body.id}`);
  expect(read.body).not.toHaveProperty('client_secret');
  const listed = await admin('GET', '/agents?limit=200');
  expect(JSON.stringify(listed.body)).not.toContain(created.body.client_secret);
  const row = await server.db.prisma.client.findUnique({ where: { id: created.body.id } });
  expect(JSON.stringify(row)).not.toContain(created.body.client_secret);
});

it('rotates the secret: the old one fails at once, the new one works', async () => {
  const agent = await createSecretAgent('Rotating agent');
  expect((await tokenRequest(agent.id, agent.client_secret)).status).toBe(200);

  const rotated = await admin('POST', `/agents/${agent.id}/secret`);
  expect(rotated.status).toBe(200);
  expect(rotated.body).toEqual({ id: agent.id, client_secret: expect.stringMatching(/^aa_as_/) });
  expect(rotated.body.client_secret).not.toBe(agent.client_secret);

  const old = await tokenRequest(agent.id, agent.client_secret);
  expect(old.status).toBe(401);
  expect(old.body.error).toBe('invalid_client');
  expect((await tokenRequest(agent.id, rotated.body.client_secret)).status).toBe(200);
});

it('suspends: live tokens become inactive, new ones are refused, approvals are revoked; a second suspend revokes nothing', async () => {
  const agent = await createSecretAgent('Suspended agent');
  const approval = await admin('POST', '/approvals', { user_id: userId, agent_id: agent.id, scopes: ['files:read'], resources: [API] });
  expect(approval.status).toBe(201);
  const tokens = [(await tokenRequest(agent.id, agent.client_secret)).body.access_token!, (await tokenRequest(agent.id, agent.client_secret)).body.access_token!];
  for (const token of tokens) expect((await introspect(token)).active).toBe(true);

  const suspended = await admin('POST', `/agents/${agent.id}/suspend`);
  expect(suspended.status).toBe(200);
  expect(suspended.body).toEqual({ revoked: 2 });

  for (const token of tokens) expect(await introspect(token)).toEqual({ active: false });
  const refused = await tokenRequest(agent.id, agent.client_secret);
  expect(refused.status).toBe(401);
  expect(refused.body.error).toBe('invalid_client');
  // On the record under the agent's own id and kind, not as an anonymous app.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const refusal = await server.db.prisma.auditEvent.findFirst({ where: { action: 'token.refused', clientId: agent.id }, orderBy: { seq: 'desc' } });
  expect(refusal).toMatchObject({ actorKind: 'agent', actorId: agent.id, agentId: agent.id });
  expect((await admin('GET', `/agents/${agent.id}`)).body).toMatchObject({ status: 'suspended', suspended_at: expect.any(String) });
  expect((await admin('GET', `/approvals/${approval.body.id}`)).body.status).toBe('revoked');

  expect((await admin('POST', `/agents/${agent.id}/suspend`)).body).toEqual({ revoked: 0 });
  // The revocation service audits the kill switch; the admin API does not add a second event.
  const events = await admin('GET', `/audit?agent_id=${agent.id}&limit=200`);
  expect(events.body.items.filter((e: { action: string }) => e.action === 'agent.suspended')).toHaveLength(2);
  expect(events.body.items.filter((e: { action: string }) => e.action.includes('suspend'))).toHaveLength(2);
});

it('activates: the agent gets tokens again, but no approval comes back', async () => {
  const agent = await createSecretAgent('Reactivated agent');
  const approval = await admin('POST', '/approvals', { user_id: userId, agent_id: agent.id, scopes: ['files:read'], resources: [API] });
  await admin('POST', `/agents/${agent.id}/suspend`);

  const activated = await admin('POST', `/agents/${agent.id}/activate`);
  expect(activated.status).toBe(200);
  expect(activated.body).toMatchObject({ id: agent.id, status: 'active', suspended_at: null });
  const issued = await tokenRequest(agent.id, agent.client_secret);
  expect(issued.status).toBe(200);
  expect((await introspect(issued.body.access_token!)).active).toBe(true);

  expect((await admin('GET', `/approvals/${approval.body.id}`)).body.status).toBe('revoked');
  expect((await admin('GET', `/approvals?agent_id=${agent.id}&status=active`)).body.items).toEqual([]);
  expect((await admin('POST', `/agents/${agent.id}/activate`)).status).toBe(409);
});

it('registers a private_key_jwt agent that authenticates with its own key and has no secret to rotate', async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'agent-key-1', alg: 'ES256', use: 'sig' };
  const created = await admin('POST', '/agents', {
    name: 'Keyed agent',
    owner_user_id: userId,
    scopes: ['files:read'],
    audiences: [API],
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [jwk] },
  });
  expect(created.status).toBe(201);
  expect(created.body).not.toHaveProperty('client_secret');
  expect(created.body.jwks).toEqual({ keys: [jwk] });

  const config = await client.discovery(new URL(server.issuer), created.body.id, undefined, client.PrivateKeyJwt({ key: privateKey, kid: 'agent-key-1' }), {
    execute: [client.allowInsecureRequests],
  });
  const tokens = await client.clientCredentialsGrant(config, { scope: 'files:read', resource: API });
  expect((await introspect(tokens.access_token)).active).toBe(true);

  const rotate = await admin('POST', `/agents/${created.body.id}/secret`);
  expect(rotate.status).toBe(400);
  expect(rotate.body.details[0].path).toBe('token_endpoint_auth_method');
});

it('changes an agent: a narrower ceiling applies to the next token request, and the change is audited', async () => {
  const agent = await createSecretAgent('Narrowed agent');
  expect((await tokenRequest(agent.id, agent.client_secret, API, 'files:write')).status).toBe(200);

  const patched = await admin('PATCH', `/agents/${agent.id}`, { name: 'Narrowed agent v2', scopes: ['files:read'], max_token_ttl: 60 });
  expect(patched.status).toBe(200);
  expect(patched.body).toMatchObject({ name: 'Narrowed agent v2', scopes: ['files:read'], max_token_ttl: 60, audiences: [API] });

  const refused = await tokenRequest(agent.id, agent.client_secret, API, 'files:write');
  expect(refused.status).toBe(400);
  expect(refused.body.error).toBe('invalid_scope');
  const allowed = await tokenRequest(agent.id, agent.client_secret, API, 'files:read');
  expect(allowed.status).toBe(200);

  const events = await admin('GET', `/audit?agent_id=${agent.id}&action=agent.updated`);
  expect(events.body.items).toHaveLength(1);
  expect(events.body.items[0]).toMatchObject({ actor_type: 'admin', details: { fields: ['name', 'scopes', 'max_token_ttl'] } });
});

it('audits creation and rotation as the admin key that did them, with the request id', async () => {
  const keys = await admin('GET', '/admin-keys');
  const bootstrapKeyId = keys.body.items.find((k: { name: string }) => k.name === 'bootstrap').id;
  const created = await admin(
    'POST',
    '/agents',
    { name: 'Audited agent', owner_user_id: userId, scopes: [], audiences: [API], token_endpoint_auth_method: 'client_secret_post' },
    { 'x-request-id': 'audit-test-request-0001' },
  );
  await admin('POST', `/agents/${created.body.id}/secret`);

  const events = await admin('GET', `/audit?agent_id=${created.body.id}`);
  expect(events.body.items.map((e: { action: string }) => e.action)).toEqual(['agent.secret_rotated', 'agent.created']);
  expect(events.body.items[1]).toMatchObject({
    actor_type: 'admin',
    actor_id: bootstrapKeyId,
    agent_id: created.body.id,
    user_id: userId,
    request_id: 'audit-test-request-0001',
    ip: expect.stringMatching(/127\.0\.0\.1/),
    outcome: 'success',
  });
  expect(JSON.stringify(events.body)).not.toContain(created.body.client_secret);
});
