// Who may call the admin API: the whole role matrix over every documented operation (the OpenAPI document lists
// them, and test/admin/openapi.test.ts pins that list), plus how keys are stored and marked used.
import { adminClient, API, seed, startAdminServer, type AdminCall, type AdminServer } from './support.js';

let server: AdminServer;
let admin: AdminCall;
let auditorKey: string;
let revokedKey: string;
const ids: Record<string, string> = {};
let operations: Array<{ method: string; path: string; write: boolean }>;

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  const { user } = await seed(admin);
  ids.users = user.id;
  ids.resources = (await admin('GET', '/resources')).body.items[0].id;
  const agent = await admin('POST', '/agents', { name: 'Matrix agent', owner_user_id: user.id, scopes: ['files:read'], audiences: [API], token_endpoint_auth_method: 'client_secret_basic' });
  ids.agents = agent.body.id;
  const approval = await admin('POST', '/approvals', { user_id: user.id, agent_id: agent.body.id, scopes: ['files:read'], resources: [API] });
  ids.approvals = approval.body.id;
  const auditor = await admin('POST', '/admin-keys', { name: 'auditor', role: 'auditor' });
  auditorKey = auditor.body.key;
  const revoked = await admin('POST', '/admin-keys', { name: 'to revoke', role: 'admin' });
  revokedKey = revoked.body.key;
  ids['admin-keys'] = revoked.body.id;
  expect((await admin('DELETE', `/admin-keys/${revoked.body.id}`)).status).toBe(200);

  const app = await admin('POST', '/clients', { name: 'Matrix app', grant_types: ['client_credentials'], resources: [API], scopes: ['files:read'] });
  ids.clients = app.body.client_id;
  ids['client-domains'] = 'example.test';
  const trusted = await admin('POST', '/trusted-issuers', {
    issuer: 'https://idp.auth-test.example.com',
    jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] },
    purposes: ['id_jag'],
  });
  ids['trusted-issuers'] = trusted.body.id;
  // A token of the agent's own, so that /tokens/{jti} names a record.
  const token = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${agent.body.id}:${agent.body.client_secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'files:read' }),
  });
  ids.tokens = JSON.parse(Buffer.from(((await token.json()) as { access_token: string }).access_token.split('.')[1]!, 'base64url').toString()).jti;

  const document = (await (await fetch(`${server.url}/admin/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { 'x-required-role'?: string }>> };
  operations = Object.entries(document.paths)
    .filter(([path]) => path !== '/openapi.json')
    .flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ method: method.toUpperCase(), path, write: operation['x-required-role'] === 'admin' })));
});
afterAll(async () => {
  await server.stop();
});

/** A documented path with its `{id}` filled in by a record of that collection. */
const concrete = (path: string) => path.replace(/\{(id|jti|domain)\}/, ids[path.split('/')[1]!]!);

it('covers every documented operation (43 routes)', () => {
  expect(operations).toHaveLength(43);
});

it('answers 401 with WWW-Authenticate: Bearer to requests without a key, on every route', async () => {
  const anonymous = adminClient(server, null);
  for (const { method, path } of operations) {
    const response = await anonymous(method, concrete(path), method === 'GET' ? undefined : {});
    expect({ method, path, status: response.status, error: response.body?.error }).toEqual({ method, path, status: 401, error: 'unauthorized' });
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
  }
});

it('answers 401 to an unknown key and to a revoked key, on every route', async () => {
  for (const key of ['aa_ak_not-a-real-key-at-all-00000000000000000000', revokedKey]) {
    const call = adminClient(server, key);
    for (const { method, path } of operations) {
      const response = await call(method, concrete(path), method === 'GET' ? undefined : {});
      expect({ method, path, status: response.status, error: response.body?.error }).toEqual({ method, path, status: 401, error: 'unauthorized' });
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
    }
  }
});

it('refuses malformed Authorization headers with 401', async () => {
  for (const authorization of ['Basic abc', 'Bearer', `Bearer ${server.adminKey} extra`, server.adminKey]) {
    const response = await fetch(`${server.url}/admin/v1/users`, { headers: { authorization } });
    expect(response.status).toBe(401);
  }
});

it('lets an auditor read every list and item', async () => {
  const auditor = adminClient(server, auditorKey);
  const reads = operations.filter((op) => op.method === 'GET');
  expect(reads.map((op) => op.path).sort()).toEqual(
    [
      '/admin-keys', '/agents', '/agents/{id}', '/approvals', '/approvals/{id}', '/audit', '/audit/export', '/client-domains', '/clients', '/clients/{id}',
      '/resources', '/resources/{id}', '/tokens', '/tokens/{jti}', '/trusted-issuers', '/trusted-issuers/{id}', '/users', '/users/{id}',
    ].sort(),
  );
  for (const { path } of reads) {
    const response = await auditor('GET', concrete(path));
    expect({ path, status: response.status }).toEqual({ path, status: 200 });
    if (path === '/audit/export') expect(typeof response.body).toBe('string');
    else if (!path.includes('{')) expect(Array.isArray(response.body.items)).toBe(true);
    else expect(response.body.jti ?? response.body.client_id ?? response.body.id).toBe(ids[path.split('/')[1]!]);
  }
});

it('answers 403 to an auditor on every write route, and the write does not happen', async () => {
  const auditor = adminClient(server, auditorKey);
  const writes = operations.filter((op) => op.write);
  expect(writes).toHaveLength(24);
  // Only the refusals are recorded (admin.refused, one each); nothing else happens.
  const events = async () => (await admin('GET', '/audit?limit=200')).body.items.map((e: { action: string }) => e.action) as string[];
  // The one POST that is not a write: the policy's dry run (test/admin/decisions.test.ts).
  expect(operations.filter((op) => op.method !== 'GET' && !op.write).map((op) => op.path)).toEqual(['/decisions']);
  const auditBefore = (await events()).filter((a) => a !== 'admin.refused').length;
  const refusedBefore = (await events()).filter((a) => a === 'admin.refused').length;
  for (const { method, path } of writes) {
    const response = await auditor(method, concrete(path), { name: 'x' });
    expect({ method, path, status: response.status, error: response.body?.error }).toEqual({ method, path, status: 403, error: 'forbidden' });
  }
  expect((await admin('GET', `/agents/${ids.agents}`)).body.status).toBe('active');
  expect((await admin('GET', `/approvals/${ids.approvals}`)).body.status).toBe('active');
  expect((await admin('GET', `/users/${ids.users}`)).status).toBe(200);
  expect((await events()).filter((a) => a !== 'admin.refused').length).toBe(auditBefore);
  expect((await events()).filter((a) => a === 'admin.refused').length).toBe(refusedBefore + writes.length);
});

it('lets an admin key write', async () => {
  const response = await admin('POST', '/users', { username: 'written-by-admin', password: 'correct horse battery staple' });
  expect(response.status).toBe(201);
});

it('serves the OpenAPI document without a key', async () => {
  const response = await fetch(`${server.url}/admin/v1/openapi.json`);
  expect(response.status).toBe(200);
  expect(((await response.json()) as { openapi: string }).openapi).toMatch(/^3\.1\./);
});

it('answers an unknown route 404 and a known path with the wrong method 405, both only after authentication', async () => {
  expect((await adminClient(server, null)('GET', '/nothing-here')).status).toBe(401);
  const unknown = await admin('GET', '/nothing-here');
  expect(unknown.status).toBe(404);
  expect(unknown.body.error).toBe('not_found');
  const wrongMethod = await admin('PUT', '/users');
  expect(wrongMethod.status).toBe(405);
  expect(wrongMethod.headers.get('allow')).toBe('POST, GET');
});

it('stores admin keys only as keyed hashes and shows a key once', async () => {
  const created = await admin('POST', '/admin-keys', { name: 'hash check', role: 'auditor' });
  expect(created.status).toBe(201);
  expect(created.body.key).toMatch(/^aa_ak_[A-Za-z0-9_-]{43}$/);
  const row = await server.db.prisma.adminKey.findUnique({ where: { id: created.body.id } });
  expect(row?.keyHash).toMatch(/^hmac-sha256:/);
  expect(JSON.stringify(row)).not.toContain(created.body.key);
  const listed = await admin('GET', '/admin-keys?limit=200');
  expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
  expect(listed.body.items.find((k: { id: string }) => k.id === created.body.id)).not.toHaveProperty('key');
});

it('marks a key used at most once a minute', async () => {
  const created = await admin('POST', '/admin-keys', { name: 'last used', role: 'auditor' });
  const call = adminClient(server, created.body.key);
  const lastUsed = async () => (await server.db.prisma.adminKey.findUnique({ where: { id: created.body.id } }))!.lastUsedAt;
  expect(await lastUsed()).toBeNull();

  await call('GET', '/users');
  const first = await lastUsed();
  expect(first).toBeInstanceOf(Date);
  await call('GET', '/users');
  await call('GET', '/agents');
  expect(await lastUsed()).toEqual(first);

  const longAgo = new Date(Date.now() - 2 * 60_000);
  await server.db.prisma.adminKey.update({ where: { id: created.body.id }, data: { lastUsedAt: longAgo } });
  await call('GET', '/users');
  expect((await lastUsed())!.getTime()).toBeGreaterThan(longAgo.getTime() + 60_000);
});

it('refuses a key from the moment it is revoked, and revoking twice changes nothing', async () => {
  const created = await admin('POST', '/admin-keys', { name: 'short-lived', role: 'admin' });
  const call = adminClient(server, created.body.key);
  expect((await call('GET', '/users')).status).toBe(200);
  const revoked = await admin('DELETE', `/admin-keys/${created.body.id}`);
  expect(revoked.status).toBe(200);
  expect(revoked.body.revoked_at).toEqual(expect.any(String));
  expect((await call('GET', '/users')).status).toBe(401);
  const again = await admin('DELETE', `/admin-keys/${created.body.id}`);
  expect(again.body.revoked_at).toBe(revoked.body.revoked_at);
  const events = await admin('GET', '/audit?action=admin_key.revoked&limit=200');
  expect(events.body.items.filter((e: { details: { id: string } }) => e.details.id === created.body.id)).toHaveLength(1);
});
