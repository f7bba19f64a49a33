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

describe('workload identities and remote client ids', () => {
  const PLATFORM = 'https://k8s.agents-test.example.com';
  const IDP = 'https://idp.agents-test.example.com';
  const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] };
  let subjects = 0;
  const subject = () => `system:serviceaccount:agents:worker-${++subjects}`;

  beforeAll(async () => {
    expect((await admin('POST', '/trusted-issuers', { issuer: PLATFORM, jwks, purposes: ['workload'] })).status).toBe(201);
    expect((await admin('POST', '/trusted-issuers', { issuer: IDP, jwks, purposes: ['id_jag'] })).status).toBe(201);
  });

  const newAgent = (fields: Record<string, unknown>) =>
    admin('POST', '/agents', { name: 'Workload agent', owner_user_id: userId, scopes: ['files:read'], audiences: [API], ...fields });

  it('registers an agent that authenticates with its platform identity: private_key_jwt by default, no secret, no keys', async () => {
    const identity = { issuer: PLATFORM, subject: subject() };
    const created = await newAgent({ workload_identities: [identity] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: null, workload_identities: [identity], remote_client_ids: [] });
    expect(created.body).not.toHaveProperty('client_secret');
    expect((await admin('GET', `/agents/${created.body.id}`)).body).toEqual(created.body);
    const row = await server.db.prisma.client.findUnique({ where: { id: created.body.id } });
    expect(row).toMatchObject({ secretHash: null, metadata: expect.objectContaining({ token_endpoint_auth_method: 'private_key_jwt', workload_federation: true }) });
    expect(row!.metadata).not.toHaveProperty('jwks');

    // The runtime presents it to oidc-provider with a credential no secret matches.
    const metadata = await server.stores.clients.findMetadata(created.body.id);
    expect(metadata).toMatchObject({ token_endpoint_auth_method: 'client_secret_post' });
    expect(metadata).not.toHaveProperty('workload_federation');

    const rotate = await admin('POST', `/agents/${created.body.id}/secret`);
    expect(rotate.status).toBe(400);
    expect(rotate.body.details[0].path).toBe('workload_identities');
    const events = await admin('GET', `/audit?agent_id=${created.body.id}&action=agent.created`);
    expect(events.body.items[0].details.workload_identities).toEqual([identity]);
  });

  it('accepts no other key: a secret method or a jwks with workload identities is refused', async () => {
    const secret = await newAgent({ token_endpoint_auth_method: 'client_secret_basic', workload_identities: [{ issuer: PLATFORM, subject: subject() }] });
    expect(secret.status).toBe(400);
    expect(secret.body.details).toContainEqual({ path: 'token_endpoint_auth_method', message: expect.stringContaining('no other key is accepted') });
    const keyed = await newAgent({ token_endpoint_auth_method: 'private_key_jwt', jwks, workload_identities: [{ issuer: PLATFORM, subject: subject() }] });
    expect(keyed.status).toBe(400);
    expect(keyed.body.details).toContainEqual({ path: 'jwks', message: expect.stringContaining('no other key is accepted') });
    const neither = await newAgent({});
    expect(neither.status).toBe(400);
    expect(neither.body.details).toEqual([{ path: 'token_endpoint_auth_method', message: expect.stringContaining('workload_identities') }]);
  });

  it('refuses an issuer that is not trusted for workload, naming the entry', async () => {
    const wrongPurpose = await newAgent({ workload_identities: [{ issuer: IDP, subject: subject() }] });
    expect(wrongPurpose.status).toBe(400);
    expect(wrongPurpose.body.details).toEqual([{ path: 'workload_identities.0.issuer', message: expect.stringContaining('not trusted for workload') }]);
    const unknown = await newAgent({ workload_identities: [{ issuer: 'https://unknown.example.com', subject: subject() }] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.details[0].path).toBe('workload_identities.0.issuer');
    const duplicate = await newAgent({ workload_identities: [{ issuer: PLATFORM, subject: 'twice' }, { issuer: PLATFORM, subject: 'twice' }] });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.details[0].path).toBe('workload_identities');
  });

  it('answers 409 for a workload identity another agent holds, on create and on PATCH, writing nothing', async () => {
    const identity = { issuer: PLATFORM, subject: subject() };
    const first = (await newAgent({ workload_identities: [identity] })).body;
    const before = (await admin('GET', '/agents?limit=200')).body.items.length;
    const taken = await newAgent({ name: 'Copycat', workload_identities: [identity] });
    expect(taken.status).toBe(409);
    expect(taken.body.error).toBe('conflict');
    expect((await admin('GET', '/agents?limit=200')).body.items.length).toBe(before);
    const other = (await newAgent({ workload_identities: [{ issuer: PLATFORM, subject: subject() }] })).body;
    const patched = await admin('PATCH', `/agents/${other.id}`, { name: 'Renamed', workload_identities: [identity] });
    expect(patched.status).toBe(409);
    expect((await admin('GET', `/agents/${other.id}`)).body).toEqual(other);
    expect((await admin('GET', `/agents/${first.id}`)).body.workload_identities).toEqual([identity]);
  });

  it('replaces workload identities on PATCH; removing them all needs jwks in the same request', async () => {
    const agent = (await newAgent({ workload_identities: [{ issuer: PLATFORM, subject: subject() }] })).body;
    const next = { issuer: PLATFORM, subject: subject() };
    const replaced = await admin('PATCH', `/agents/${agent.id}`, { workload_identities: [next] });
    expect(replaced.status).toBe(200);
    expect(replaced.body.workload_identities).toEqual([next]);

    const stranded = await admin('PATCH', `/agents/${agent.id}`, { workload_identities: [] });
    expect(stranded.status).toBe(400);
    expect(['workload_identities', 'jwks']).toContain(stranded.body.details[0].path);
    expect((await admin('GET', `/agents/${agent.id}`)).body.workload_identities).toEqual([next]);
    const withKeys = await admin('PATCH', `/agents/${agent.id}`, { workload_identities: [], jwks });
    expect(withKeys.status).toBe(200);
    expect(withKeys.body).toMatchObject({ workload_identities: [], jwks, token_endpoint_auth_method: 'private_key_jwt' });
    expect((await server.db.prisma.client.findUnique({ where: { id: agent.id } }))!.metadata).not.toHaveProperty('workload_federation');

    // Back to the platform: its own keys must go in the same request.
    const both = await admin('PATCH', `/agents/${agent.id}`, { workload_identities: [next] });
    expect(both.status).toBe(400);
    expect(both.body.details[0].path).toBe('jwks');
    const federated = await admin('PATCH', `/agents/${agent.id}`, { workload_identities: [next], jwks: null });
    expect(federated.status).toBe(200);
    expect(federated.body).toMatchObject({ workload_identities: [next], jwks: null });
    expect((await server.db.prisma.client.findUnique({ where: { id: agent.id } }))!.metadata).toMatchObject({ workload_federation: true });
  });

  it('refuses workload identities for an agent that authenticates with a secret', async () => {
    const agent = await createSecretAgent('Secret then platform');
    const patched = await admin('PATCH', `/agents/${agent.id}`, { workload_identities: [{ issuer: PLATFORM, subject: subject() }] });
    expect(patched.status).toBe(400);
    expect(patched.body.details[0].path).toBe('token_endpoint_auth_method');
    expect((await tokenRequest(agent.id, agent.client_secret)).status).toBe(200);
  });

  it('keeps the agent’s client ids at other authorization servers, one per server', async () => {
    const remote = [
      { authorization_server: 'https://as.partner.example', client_id: 'partner-client-7' },
      { authorization_server: 'https://login.other.example/tenant-1', client_id: 'abc' },
    ];
    const created = await newAgent({ token_endpoint_auth_method: 'client_secret_basic', remote_client_ids: remote });
    expect(created.status).toBe(201);
    expect(created.body.remote_client_ids).toEqual(remote);
    expect((await admin('GET', `/agents/${created.body.id}`)).body.remote_client_ids).toEqual(remote);
    const patched = await admin('PATCH', `/agents/${created.body.id}`, { remote_client_ids: [remote[1]] });
    expect(patched.body.remote_client_ids).toEqual([remote[1]]);
    expect((await admin('PATCH', `/agents/${created.body.id}`, { scopes: ['files:read'] })).body.remote_client_ids).toEqual([remote[1]]);

    const twice = await admin('PATCH', `/agents/${created.body.id}`, { remote_client_ids: [remote[0], { ...remote[0], client_id: 'other' }] });
    expect(twice.status).toBe(400);
    expect(twice.body.details[0].path).toBe('remote_client_ids');
    const notIssuer = await admin('PATCH', `/agents/${created.body.id}`, { remote_client_ids: [{ authorization_server: 'https://as.example/?x=1', client_id: 'a' }] });
    expect(notIssuer.status).toBe(400);
    expect(notIssuer.body.details[0].path).toBe('remote_client_ids.0.authorization_server');
    expect((await admin('GET', `/agents/${created.body.id}`)).body.remote_client_ids).toEqual([remote[1]]);
  });
});
