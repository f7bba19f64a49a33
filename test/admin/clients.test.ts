// Apps through the admin API (/admin/v1/clients), checked where it matters: at the token and introspection
// endpoints. Deny by default: an app without ceilings gets no access token, one with ceilings gets tokens inside them
// only; a resource server's introspection client sees its own resource's tokens and mints nothing; a rotated secret
// replaces the old at once; deleting an app revokes its live tokens. Agents are not reachable here.
import { adminClient, API, introspect, jtiOf, OTHER_API, seed, startAdminServer, walk, type AdminCall, type AdminServer } from './support.js';

let server: AdminServer;
let admin: AdminCall;
let userId: string;

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  userId = (await seed(admin)).user.id;
});
afterAll(async () => {
  await server.stop();
});

type Created = { id: string; client_id: string; client_secret: string };

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A client-credentials token request (client_secret_basic), answered as status and body. */
async function clientCredentials(app: { id: string; client_secret: string }, params: Record<string, string>) {
  const response = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(app.id, app.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
  });
  return { status: response.status, body: (await response.json()) as { access_token?: string; error?: string; error_description?: string } };
}

async function createApp(body: Record<string, unknown>): Promise<Created> {
  const response = await admin('POST', '/clients', { name: 'App', grant_types: ['client_credentials'], ...body });
  if (response.status !== 201) throw new Error(`app: ${JSON.stringify(response.body)}`);
  return response.body as Created;
}

async function expect400(response: { status: number; body: any }, paths: string[]) {
  expect(response.status).toBe(400);
  expect(response.body).toMatchObject({ error: 'invalid_request', message: expect.any(String) });
  expect(response.body.details.map((d: { path: string }) => d.path)).toEqual(expect.arrayContaining(paths));
}

it('creates an app whose secret, shown once, gets tokens inside its ceiling and nowhere else', async () => {
  const created = await admin('POST', '/clients', {
    name: 'Nightly job',
    grant_types: ['client_credentials'],
    resources: [API],
    scopes: ['files:read'],
  });
  expect(created.status).toBe(201);
  expect(created.body).toEqual({
    id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    client_id: created.body.id,
    name: 'Nightly job',
    redirect_uris: [],
    post_logout_redirect_uris: [],
    grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'client_secret_basic',
    application_type: 'web',
    jwks: null,
    resources: [API],
    scopes: ['files:read'],
    resource_server: null,
    dpop_bound_access_tokens: false,
    created_at: expect.any(String),
    updated_at: expect.any(String),
    client_secret: expect.stringMatching(/^aa_cs_[A-Za-z0-9_-]{43}$/),
  });
  const app = created.body as Created;

  const inside = await clientCredentials(app, { resource: API, scope: 'files:read' });
  expect(inside.status).toBe(200);
  // The single allowed resource is the default, and the most the ceiling allows is the default scope.
  const defaulted = await clientCredentials(app, {});
  expect(defaulted.status).toBe(200);
  expect(JSON.parse(Buffer.from(defaulted.body.access_token!.split('.')[1]!, 'base64url').toString())).toMatchObject({ aud: API, scope: 'files:read' });
  expect(await clientCredentials(app, { resource: API, scope: 'files:write' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  expect(await clientCredentials(app, { resource: OTHER_API, scope: 'mail:send' })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });

  // Shown once: never again in any read, and stored only as a keyed hash.
  const read = await admin('GET', `/clients/${app.id}`);
  expect(read.status).toBe(200);
  expect(read.body).not.toHaveProperty('client_secret');
  expect(JSON.stringify((await admin('GET', '/clients?limit=200')).body)).not.toContain(app.client_secret);
  const row = await server.db.prisma.client.findUnique({ where: { id: app.id } });
  expect(row!.secretHash).toMatch(/^hmac-sha256:/);
  expect(JSON.stringify(row)).not.toContain(app.client_secret);
});

it('gives an app without ceilings no access token (deny by default), until PATCH gives it some', async () => {
  const app = await createApp({ name: 'Upgraded app' });
  expect(app).toMatchObject({ resources: [], scopes: [] });
  const refused = await clientCredentials(app, { resource: API, scope: 'files:read' });
  expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
  expect(refused.body.error_description).toMatch(/not among the allowed resources/);
  expect(await clientCredentials(app, {})).toMatchObject({ status: 400, body: { error: 'invalid_target' } });

  const patched = await admin('PATCH', `/clients/${app.id}`, { resources: [API], scopes: ['files:read', 'files:write'] });
  expect(patched.status).toBe(200);
  expect(patched.body).toMatchObject({ resources: [API], scopes: ['files:read', 'files:write'], name: 'Upgraded app', grant_types: ['client_credentials'] });
  expect((await clientCredentials(app, { resource: API, scope: 'files:write' })).status).toBe(200);

  // Narrowing applies from the next request.
  expect((await admin('PATCH', `/clients/${app.id}`, { scopes: ['files:read'] })).status).toBe(200);
  expect(await clientCredentials(app, { resource: API, scope: 'files:write' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
});

it('lets a resource server’s introspection client introspect its own resource’s tokens and nothing more, and mint nothing', async () => {
  const introspector = await createApp({ name: 'Files API', resource_server: API });
  expect(introspector).toMatchObject({ resource_server: API, resources: [], scopes: [] });
  const app = await createApp({ name: 'Two-resource app', resources: [API, OTHER_API], scopes: ['files:read', 'mail:send'] });
  const forApi = (await clientCredentials(app, { resource: API, scope: 'files:read' })).body.access_token!;
  const forOther = (await clientCredentials(app, { resource: OTHER_API, scope: 'mail:send' })).body.access_token!;

  const asResourceServer = { id: introspector.id, client_secret: introspector.client_secret };
  expect(await introspect(server, asResourceServer, forApi)).toMatchObject({ active: true, aud: API, scope: 'files:read', client_id: app.id });
  expect(await introspect(server, asResourceServer, forOther)).toEqual({ active: false });

  // No ceilings: it authenticates, but no resource and no scope is allowed to it.
  expect(await clientCredentials(asResourceServer, { resource: API, scope: 'files:read' })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
  expect(await clientCredentials(asResourceServer, { resource: API })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
  expect(await clientCredentials(asResourceServer, {})).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
  expect(await server.db.prisma.issuedToken.count({ where: { clientId: introspector.id } })).toBe(0);
});

it('defaults a sign-in app to the code flow and a redirect-less app to client credentials; native apps may use custom schemes', async () => {
  const web = await admin('POST', '/clients', { name: 'Web', redirect_uris: ['https://app.example.test/cb'] });
  expect(web.status).toBe(201);
  expect(web.body).toMatchObject({ grant_types: ['authorization_code', 'refresh_token'], application_type: 'web', resources: [], scopes: [] });

  const service = await admin('POST', '/clients', { name: 'Service' });
  expect(service.status).toBe(201);
  expect(service.body.grant_types).toEqual(['client_credentials']);

  const native = await admin('POST', '/clients', {
    name: 'Desktop',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    redirect_uris: ['com.example.desktop:/callback', 'http://127.0.0.1/callback'],
  });
  expect(native.status).toBe(201);
  expect(native.body).toMatchObject({ application_type: 'native', token_endpoint_auth_method: 'none' });
  expect(native.body).not.toHaveProperty('client_secret');
  // A public client has no secret to rotate.
  await expect400(await admin('POST', `/clients/${native.body.id}/secret`), ['token_endpoint_auth_method']);
});

describe('bad input names the field at fault, and nothing is written', () => {
  it.each([
    ['an unregistered resource', { resources: [API, 'https://unregistered.example.test'] }, ['resources.1']],
    ['a scope no allowed resource defines', { resources: [API], scopes: ['files:read', 'mail:send'] }, ['scopes.1']],
    ['a scope without any resource', { scopes: ['files:read'] }, ['scopes.0']],
    ['an unregistered resource server', { resource_server: 'https://unregistered.example.test' }, ['resource_server']],
    ['private_key_jwt without keys', { token_endpoint_auth_method: 'private_key_jwt' }, ['jwks']],
    ['an unknown grant type', { grant_types: ['password'] }, ['grant_types.0']],
    ['the code flow without a redirect URI', { grant_types: ['authorization_code'] }, ['redirect_uris']],
    ['client credentials for a public client', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' }, ['grant_types']],
    ['a javascript: redirect URI', { redirect_uris: ['javascript:alert(1)'] }, ['redirect_uris.0']],
    ['a web app with a custom-scheme redirect URI', { redirect_uris: ['com.example.app:/cb'] }, ['redirect_uris']],
    ['an unknown application type', { application_type: 'desktop' }, ['application_type']],
    ['an unknown field', { client_secret: 'mine' }, ['client_secret']],
  ])('refuses %s', async (_what, body, paths) => {
    const before = await server.db.prisma.client.count();
    await expect400(await admin('POST', '/clients', { name: 'Bad', ...body }), paths);
    expect(await server.db.prisma.client.count()).toBe(before);
  });

  it('refuses a PATCH that names nothing or would break the app, leaving it as it was', async () => {
    const app = await createApp({ name: 'Kept', resources: [API], scopes: ['files:read'] });
    await expect400(await admin('PATCH', `/clients/${app.id}`, {}), ['']);
    await expect400(await admin('PATCH', `/clients/${app.id}`, { resources: [OTHER_API] }), ['scopes.0']);
    await expect400(await admin('PATCH', `/clients/${app.id}`, { token_endpoint_auth_method: 'none' }), ['token_endpoint_auth_method']);
    expect((await admin('GET', `/clients/${app.id}`)).body).toMatchObject({ resources: [API], scopes: ['files:read'] });
  });
});

it('answers 404 for unknown ids and for agents, which are managed under /agents', async () => {
  const agent = await admin('POST', '/agents', { name: 'Agent', owner_user_id: userId, scopes: ['files:read'], audiences: [API], token_endpoint_auth_method: 'client_secret_basic' });
  expect(agent.status).toBe(201);
  for (const id of [agent.body.id, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
    expect((await admin('GET', `/clients/${id}`)).status).toBe(404);
    expect((await admin('PATCH', `/clients/${id}`, { name: 'Renamed' })).status).toBe(404);
    expect((await admin('POST', `/clients/${id}/secret`)).status).toBe(404);
    expect((await admin('DELETE', `/clients/${id}`)).status).toBe(404);
  }
  const { items } = await walk(admin, '/clients', 200);
  expect(items.map((item: { id: string }) => item.id)).not.toContain(agent.body.id);
  expect((await admin('GET', `/agents/${agent.body.id}`)).body).toMatchObject({ status: 'active', name: 'Agent' });
});

it('lists apps page by page with limit and cursor', async () => {
  for (const name of ['Page 1', 'Page 2', 'Page 3']) await createApp({ name });
  const all = await walk(admin, '/clients', 200);
  const paged = await walk(admin, '/clients', 2);
  expect(paged.items.map((item: { id: string }) => item.id)).toEqual(all.items.map((item: { id: string }) => item.id));
  expect(paged.pages).toBeGreaterThanOrEqual(Math.ceil(all.items.length / 2));
  expect((await admin('GET', '/clients?cursor=bm90LWEtY3Vyc29y')).status).toBe(400);
  expect((await admin('GET', '/clients?colour=blue')).status).toBe(400);
});

it('lets auditor keys read apps and refuses them every write', async () => {
  const app = await createApp({ name: 'Audited app' });
  const auditorKey = (await admin('POST', '/admin-keys', { name: 'clients auditor', role: 'auditor' })).body.key as string;
  const auditor = adminClient(server, auditorKey);
  expect((await auditor('GET', '/clients')).status).toBe(200);
  expect((await auditor('GET', `/clients/${app.id}`)).status).toBe(200);
  expect((await auditor('POST', '/clients', { name: 'Nope' })).status).toBe(403);
  expect((await auditor('PATCH', `/clients/${app.id}`, { name: 'Nope' })).status).toBe(403);
  expect((await auditor('POST', `/clients/${app.id}/secret`)).status).toBe(403);
  expect((await auditor('DELETE', `/clients/${app.id}`)).status).toBe(403);
  expect((await admin('GET', `/clients/${app.id}`)).body.name).toBe('Audited app');
});

it('rotates the secret: the old one fails at once, the new one works', async () => {
  const app = await createApp({ name: 'Rotating app', resources: [API], scopes: ['files:read'] });
  const rotated = await admin('POST', `/clients/${app.id}/secret`);
  expect(rotated.status).toBe(200);
  expect(rotated.body).toEqual({ id: app.id, client_secret: expect.stringMatching(/^aa_cs_/) });
  expect(await clientCredentials(app, { resource: API })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  expect((await clientCredentials({ id: app.id, client_secret: rotated.body.client_secret }, { resource: API })).status).toBe(200);
});

it('deletes an app: its live tokens are revoked and it can no longer authenticate; every write is audited', async () => {
  const introspector = await createApp({ name: 'Files API (delete test)', resource_server: API });
  const app = await createApp({ name: 'Doomed app', resources: [API], scopes: ['files:read'] });
  const tokens = [(await clientCredentials(app, { resource: API })).body.access_token!, (await clientCredentials(app, { resource: API })).body.access_token!];
  expect((await admin('PATCH', `/clients/${app.id}`, { name: 'Doomed app, renamed' })).status).toBe(200);
  expect((await admin('POST', `/clients/${app.id}/secret`)).status).toBe(200);

  const deleted = await admin('DELETE', `/clients/${app.id}`);
  expect(deleted.status).toBe(200);
  expect(deleted.body).toEqual({ revoked: 2 });
  for (const token of tokens) {
    expect(await introspect(server, { id: introspector.id, client_secret: introspector.client_secret }, token)).toEqual({ active: false });
    const record = await server.db.prisma.issuedToken.findUnique({ where: { jti: jtiOf(token) } });
    expect(record).toMatchObject({ revocationReason: 'client deleted', revokedAt: expect.any(Date) });
  }
  expect((await admin('GET', `/clients/${app.id}`)).status).toBe(404);
  expect((await admin('DELETE', `/clients/${app.id}`)).status).toBe(404);
  expect(await server.db.prisma.client.findUnique({ where: { id: app.id } })).toBeNull();

  const events = await server.db.prisma.auditEvent.findMany({ where: { clientId: app.id, actorKind: 'admin' }, orderBy: { seq: 'asc' } });
  expect(events.map((event) => [event.action, event.actorKind])).toEqual([
    ['client.created', 'admin'],
    ['client.updated', 'admin'],
    ['client.secret_rotated', 'admin'],
    ['client.deleted', 'admin'],
  ]);
  expect(events.at(-1)!.details).toMatchObject({ tokens_revoked: 2 });
  expect(JSON.stringify(events.map((event) => event.details))).not.toContain(app.client_secret);
});

it('refuses to remove a scope from a resource while an app’s ceiling still needs it', async () => {
  const resource = await admin('POST', '/resources', {
    identifier: 'https://ceiling.example.test',
    name: 'Ceiling',
    scopes: [{ name: 'c:read', description: 'read' }, { name: 'c:write', description: 'write' }],
  });
  expect(resource.status).toBe(201);
  const app = await createApp({ name: 'Ceiling app', resources: ['https://ceiling.example.test'], scopes: ['c:read', 'c:write'] });
  const refused = await admin('PATCH', `/resources/${resource.body.id}`, { scopes: [{ name: 'c:read', description: 'read' }] });
  expect(refused.status).toBe(409);
  expect(refused.body.message).toContain(`app ${app.id} still has c:write`);

  expect((await admin('PATCH', `/clients/${app.id}`, { scopes: ['c:read'] })).status).toBe(200);
  expect((await admin('PATCH', `/resources/${resource.body.id}`, { scopes: [{ name: 'c:read', description: 'read' }] })).status).toBe(200);
});
