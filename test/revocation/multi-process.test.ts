// Several server processes on one database: a revocation or suspension through one process is honoured by another
// the moment the call returns (nothing about token state is cached per process).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';
import { spawnServer, type ServerProcess } from '../support/process.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { API, AT, GRANT, jtiOf, world, type Credentials } from './support.js';

// One issuer for every process, as behind a load balancer: tokens from one are valid subject tokens at the other.
const ISSUER = 'https://as.example.test';
const kek = randomBytes(32).toString('base64url');
const adminKey = `aa_admin_${randomBytes(32).toString('base64url')}`;
let database: TestDatabase;
let setup: TestServer;
let p1: ServerProcess;
let p2: ServerProcess;
let dataDir: string;
let rs: Credentials;

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-mp-'));
  setup = await startTestServer({ database, kek, env: { ISSUER, AGENTAUTH_BOOTSTRAP_ADMIN_KEY: adminKey } });
  await setup.stores.resources.create({ identifier: API, name: 'Files', scopes: [{ name: 'files:read', description: 'Read' }, { name: 'files:write', description: 'Write' }] });
  const created = await setup.stores.clients.createApp({ name: 'Files API', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic', resourceServer: API });
  rs = { id: created.clientId, secret: created.clientSecret! };
  const env = { DATABASE_URL: database.url, AGENTAUTH_KEK: kek, ISSUER, AGENTAUTH_DATA_DIR: dataDir };
  [p1, p2] = await Promise.all([spawnServer(env), spawnServer(env)]);
}, 90_000);
afterAll(async () => {
  await Promise.all([p1?.terminate(), p2?.terminate()]);
  await setup?.stop();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

const basic = (c: Credentials) => `Basic ${Buffer.from(`${encodeURIComponent(c.id)}:${encodeURIComponent(c.secret)}`).toString('base64')}`;

async function token(at: ServerProcess, as: Credentials, params: Record<string, string>) {
  const response = await fetch(`${at.url}/token`, {
    method: 'POST',
    headers: { authorization: basic(as), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  return { status: response.status, body: (await response.json()) as { access_token?: string; error?: string } };
}

async function exchange(at: ServerProcess, as: Credentials, params: Record<string, string>) {
  return token(at, as, { grant_type: GRANT, subject_token_type: AT, ...params });
}

async function issued(at: ServerProcess, as: Credentials, params: Record<string, string>): Promise<string> {
  const result = await exchange(at, as, params);
  if (!result.body.access_token) throw new Error(`exchange failed: ${JSON.stringify(result.body)}`);
  return result.body.access_token;
}

async function active(at: ServerProcess, as: Credentials, t: string): Promise<boolean> {
  const response = await fetch(`${at.url}/token/introspection`, {
    method: 'POST',
    headers: { authorization: basic(as), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: t }),
  });
  return ((await response.json()) as { active: boolean }).active;
}

async function admin(at: ServerProcess, method: string, route: string, body?: unknown) {
  const response = await fetch(`${at.url}/admin/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

it('a revocation through one process is refused by the other at once', async () => {
  const w = world(setup);
  const alice = (await setup.stores.users.create({ username: 'alice', password: 'correct horse battery staple' })).id;
  const A = await w.agent('A', alice, [alice]);
  const B = await w.agent('B', alice, [alice]);
  const root = await w.humanToken(alice, A.id);
  // The chain is built across both processes.
  const aAtApi = await issued(p1, A, { subject_token: root, resource: API, scope: 'files:read' });
  const toB = await issued(p1, A, { subject_token: root, audience: B.id, resource: API, scope: 'files:read' });
  const bAtApi = await issued(p2, B, { subject_token: toB, resource: API });
  for (const at of [p1, p2]) {
    expect([await active(at, rs, aAtApi), await active(at, A, toB), await active(at, rs, bAtApi)]).toEqual([true, true, true]);
  }

  expect(await admin(p1, 'POST', '/revocations', { jti: jtiOf(toB) })).toEqual({ status: 200, body: { revoked: 2 } });
  // No waiting: the other process answers from the same database.
  expect([await active(p2, A, toB), await active(p2, rs, bAtApi), await active(p2, rs, aAtApi)]).toEqual([false, false, true]);
  expect(await exchange(p2, B, { subject_token: toB, resource: API })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  expect(await exchange(p2, B, { subject_token: bAtApi, resource: API })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

  // The kill switch through the second process stops the agent at the first.
  expect((await token(p1, A, { grant_type: 'client_credentials', scope: 'files:read', resource: API })).status).toBe(200);
  expect(await admin(p2, 'POST', `/agents/${A.id}/suspend`)).toMatchObject({ status: 200 });
  expect(await token(p1, A, { grant_type: 'client_credentials', scope: 'files:read', resource: API })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  expect(await active(p1, rs, aAtApi)).toBe(false);
}, 60_000);
