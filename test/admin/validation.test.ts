// Bad input at the admin API: every 400 names the fields at fault by dotted path, unknown fields are refused,
// bodies are JSON of bounded size, 404 and 409 where they belong, never a 500, and a refused write leaves nothing
// behind.
import fc from 'fast-check';
import { adminClient, API, OTHER_API, seed, startAdminServer, type AdminCall, type AdminServer } from './support.js';

let server: AdminServer;
let admin: AdminCall;
let userId: string;
let agentId: string;

const agentBody = (overrides: Record<string, unknown> = {}) => ({
  name: 'Validation agent',
  owner_user_id: userId,
  scopes: ['files:read'],
  audiences: [API],
  token_endpoint_auth_method: 'client_secret_basic',
  ...overrides,
});

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  userId = (await seed(admin)).user.id;
  agentId = (await admin('POST', '/agents', agentBody())).body.id;
});
afterAll(async () => {
  await server.stop();
});

async function expect400(response: { status: number; body: any }, paths: string[]) {
  expect(response.status).toBe(400);
  expect(response.body).toMatchObject({ error: 'invalid_request', message: expect.any(String) });
  expect(response.body.details.map((d: { path: string }) => d.path)).toEqual(expect.arrayContaining(paths));
  for (const detail of response.body.details) expect(detail).toEqual({ path: expect.any(String), message: expect.any(String) });
}

describe('field paths', () => {
  it('names an unregistered audience of an agent by its index', async () => {
    await expect400(await admin('POST', '/agents', agentBody({ audiences: [API, 'https://unregistered.example.test'] })), ['audiences.1']);
  });

  it('names a scope outside the agent’s audiences by its index', async () => {
    await expect400(await admin('POST', '/agents', agentBody({ scopes: ['files:read', 'mail:send'] })), ['scopes.1']);
  });

  it('names each unknown field', async () => {
    const response = await admin('POST', '/agents', agentBody({ colour: 'blue', client_secret: 'mine' }));
    await expect400(response, ['colour', 'client_secret']);
    expect(response.body.details.find((d: { path: string }) => d.path === 'colour').message).toBe('unknown field');
  });

  it('names wrongly typed and missing fields', async () => {
    await expect400(await admin('POST', '/agents', { name: 'x', scopes: 'files:read', token_endpoint_auth_method: 'none' }), [
      'scopes',
      'owner_user_id',
      'audiences',
      'token_endpoint_auth_method',
    ]);
  });

  it('names fields nested in arrays', async () => {
    await expect400(
      await admin('POST', '/resources', {
        identifier: 'https://nested.example.test',
        name: 'Nested',
        scopes: [{ name: 'ok', description: 'fine' }, { name: 'has space', description: 'bad', extra: true }],
      }),
      ['scopes.1.name', 'scopes.1.extra'],
    );
  });

  it('refuses private key material in an agent’s JWKS', async () => {
    const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'secret' }] };
    await expect400(await admin('POST', '/agents', agentBody({ token_endpoint_auth_method: 'private_key_jwt', jwks })), ['jwks.keys.0.d']);
  });

  it('asks for a JWKS when the agent authenticates with private_key_jwt', async () => {
    await expect400(await admin('POST', '/agents', agentBody({ token_endpoint_auth_method: 'private_key_jwt' })), ['jwks']);
  });

  it('names the owner when it is no user', async () => {
    await expect400(await admin('POST', '/agents', agentBody({ owner_user_id: '00000000-0000-4000-8000-000000000000' })), ['owner_user_id']);
  });

  it('checks approvals against the agent’s audiences, its ceiling and the expiry', async () => {
    await expect400(
      await admin('POST', '/approvals', { user_id: userId, agent_id: agentId, scopes: ['files:write'], resources: [OTHER_API], expires_at: '2001-01-01T00:00:00Z' }),
      ['resources.0', 'scopes.0', 'expires_at'],
    );
  });

  it('checks human accounts: username characters and password length', async () => {
    await expect400(await admin('POST', '/users', { username: 'has space', password: 'correct horse battery staple' }), ['username']);
    await expect400(await admin('POST', '/users', { username: 'shortpass', password: 'short' }), ['password']);
  });

  it('refuses an empty change', async () => {
    await expect400(await admin('PATCH', `/agents/${agentId}`, {}), ['']);
    await expect400(await admin('PATCH', `/users/${userId}`, {}), ['']);
  });

  it('refuses a change to what cannot change', async () => {
    const resource = (await admin('GET', '/resources')).body.items[0];
    await expect400(await admin('PATCH', `/resources/${resource.id}`, { identifier: 'https://moved.example.test' }), ['identifier']);
    await expect400(await admin('PATCH', `/agents/${agentId}`, { token_endpoint_auth_method: 'private_key_jwt' }), ['token_endpoint_auth_method']);
  });

  it('refuses a revocation that names no target or an unsupported combination', async () => {
    await expect400(await admin('POST', '/revocations', {}), ['']);
    await expect400(await admin('POST', '/revocations', { jti: 'a', agent_id: agentId }), ['']);
    await expect400(await admin('POST', '/revocations', { user_id: 'not-a-uuid' }), ['user_id']);
  });
});

describe('queries', () => {
  it('refuses unknown query parameters, bad limits and foreign cursors', async () => {
    await expect400(await admin('GET', '/agents?owner=me'), ['owner']);
    await expect400(await admin('GET', '/users?limit=0'), ['limit']);
    await expect400(await admin('GET', '/users?limit=201'), ['limit']);
    await expect400(await admin('GET', '/users?limit=ten'), ['limit']);
    await expect400(await admin('GET', '/users?cursor=garbage'), ['cursor']);
    await expect400(await admin('GET', '/approvals?status=pending'), ['status']);
    await expect400(await admin('GET', '/audit?since=yesterday'), ['since']);
    const agentsPage = await admin('GET', '/users?limit=1');
    const usersCursor = agentsPage.body.next_cursor ?? Buffer.from(`users:${userId}`).toString('base64url');
    await expect400(await admin('GET', `/agents?cursor=${usersCursor}`), ['cursor']);
    await expect400(await admin('GET', '/users?status=active&status=disabled'), ['status']);
  });
});

describe('bodies', () => {
  it('answers malformed JSON with 400', async () => {
    const response = await admin('POST', '/users', '{"username": "x",');
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: 'invalid_request', message: 'the body is not valid JSON' });
  });

  it('answers a body that is not an object with 400', async () => {
    await expect400(await admin('POST', '/users', '[1,2,3]'), ['']);
    await expect400(await admin('POST', '/users', 'null'), ['']);
  });

  it('answers a body over 64 KiB with 413', async () => {
    const response = await admin('POST', '/agents', agentBody({ description: 'a'.repeat(70 * 1024) }));
    expect(response.status).toBe(413);
    expect(response.body.error).toBe('invalid_request');
  });

  it('answers a body that is not JSON with 415', async () => {
    const response = await admin('POST', '/users', 'username=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(response.status).toBe(415);
    expect(response.body.error).toBe('invalid_request');
  });

  it('reports every missing field of an empty body', async () => {
    const response = await fetch(`${server.url}/admin/v1/admin-keys`, { method: 'POST', headers: { authorization: `Bearer ${server.adminKey}` } });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { details: Array<{ path: string }> };
    expect(body.details.map((d) => d.path).sort()).toEqual(['name', 'role']);
  });
});

describe('404 and 409', () => {
  const nobody = '00000000-0000-4000-8000-000000000000';

  it('answers 404 for records that do not exist, and for ids that cannot exist', async () => {
    for (const path of [`/agents/${nobody}`, `/users/${nobody}`, `/resources/${nobody}`, `/approvals/${nobody}`, '/agents/not-a-uuid', '/users/%E0%A4%A']) {
      const response = await admin('GET', path);
      expect({ path, status: response.status, error: response.body.error }).toEqual({ path, status: 404, error: 'not_found' });
    }
    expect((await admin('DELETE', `/approvals/${nobody}`)).status).toBe(404);
    expect((await admin('DELETE', `/admin-keys/${nobody}`)).status).toBe(404);
    expect((await admin('POST', `/agents/${nobody}/suspend`)).status).toBe(404);
    expect((await admin('POST', `/agents/${nobody}/secret`)).status).toBe(404);
    expect((await admin('PATCH', `/users/${nobody}`, { display_name: 'x' })).status).toBe(404);
    expect((await admin('POST', '/revocations', { agent_id: nobody })).status).toBe(404);
    expect((await admin('POST', '/revocations', { approval_id: nobody })).status).toBe(404);
  });

  it('answers 409 for a duplicate username, a duplicate resource and activating an active agent', async () => {
    await admin('POST', '/users', { username: 'twice', password: 'correct horse battery staple' });
    const user = await admin('POST', '/users', { username: 'TWICE', password: 'correct horse battery staple' });
    expect(user.status).toBe(409);
    expect(user.body.error).toBe('conflict');
    const resource = await admin('POST', '/resources', { identifier: API, name: 'again' });
    expect(resource.status).toBe(409);
    const activate = await admin('POST', `/agents/${agentId}/activate`);
    expect(activate.status).toBe(409);
  });

  it('refuses to remove a scope an agent’s ceiling still needs', async () => {
    const resource = (await admin('GET', '/resources')).body.items.find((r: { identifier: string }) => r.identifier === API);
    const response = await admin('PATCH', `/resources/${resource.id}`, { scopes: [{ name: 'files:write', description: 'write' }] });
    expect(response.status).toBe(409);
    expect((await admin('GET', `/resources/${resource.id}`)).body.scopes).toHaveLength(2);
  });
});

describe('nothing half-written', () => {
  const counts = async () => ({
    agents: await server.db.prisma.agent.count(),
    clients: await server.db.prisma.client.count(),
    users: await server.db.prisma.user.count(),
    approvals: await server.db.prisma.approval.count(),
    audit: await server.db.prisma.auditEvent.count(),
  });

  it('leaves no row and no audit event behind a refused write', async () => {
    const before = await counts();
    await admin('POST', '/agents', agentBody({ audiences: ['https://unregistered.example.test'] }));
    await admin('POST', '/agents', agentBody({ owner_user_id: '00000000-0000-4000-8000-000000000000' }));
    await admin('POST', '/users', { username: 'twice', password: 'correct horse battery staple' });
    await admin('POST', '/approvals', { user_id: userId, agent_id: agentId, scopes: ['mail:send'], resources: [OTHER_API] });
    expect(await counts()).toEqual(before);
  });

  it('rolls back the change when its audit event cannot be written', async () => {
    // The audit table refuses inserts for a moment: the user insert in the same transaction must go too.
    await server.db.pool.query(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit unavailable'; END $$`);
    await server.db.pool.query('CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()');
    try {
      const response = await admin('POST', '/users', { username: 'never-stored', password: 'correct horse battery staple' });
      expect(response.status).toBe(500);
      expect(response.body).toEqual({ error: 'server_error', message: expect.any(String) });
      expect(JSON.stringify(response.body)).not.toMatch(/audit unavailable|at .*\.ts/);
    } finally {
      await server.db.pool.query('DROP TRIGGER refuse_audit ON audit_events');
      await server.db.pool.query('DROP FUNCTION refuse_audit()');
    }
    expect(await server.db.prisma.user.findUnique({ where: { username: 'never-stored' } })).toBeNull();
  });
});

it('never answers arbitrary JSON with a 5xx, and always in the error shape', async () => {
  const routes: Array<[string, string]> = [
    ['POST', '/agents'],
    ['POST', '/users'],
    ['POST', '/approvals'],
    ['POST', '/revocations'],
    ['POST', '/admin-keys'],
    ['PATCH', `/agents/${agentId}`],
  ];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(fc.json(), fc.object().map((o) => JSON.stringify(o))), async ([method, path], body) => {
      const response = await admin(method, path, body);
      expect(response.status).toBeLessThan(500);
      if (response.status >= 400) expect(response.body).toMatchObject({ error: expect.any(String), message: expect.any(String) });
    }),
    { numRuns: 60 },
  );
}, 60_000);
