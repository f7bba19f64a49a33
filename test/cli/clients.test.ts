// `agentauth clients create|list|update` and `resources create` as an operator runs them: a separate process on the
// server's database. The client secret is printed once and stored only as a keyed hash; an app gets access tokens
// only inside the resources and scopes given with --resource and --scope (deny by default); a resource server's
// introspection client needs no redirect URI and mints nothing; every write is audited as the CLI's admin.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { jest } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';
import { startTestServer, type TestServer } from '../support/server.js';

// Each CLI run is a process of its own that opens the database and checks migrations: seconds each on a busy machine.
jest.setTimeout(300_000);

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'agentauth.mjs');
const FILES = 'https://files.example.test';
const MAIL = 'https://mail.example.test';
let database: TestDatabase;
let env: NodeJS.ProcessEnv;
const kek = randomBytes(32).toString('base64url');

type Run = { code: number; stdout: string; stderr: string };

/** The CLI in its own process; resolves with its exit code and output (a usage error is not a rejection). */
function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  try {
    return (await db.query<T>(sql, params)).rows;
  } finally {
    await db.end();
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
  env = { PATH: process.env.PATH, DATABASE_URL: database.url, AGENTAUTH_KEK: kek, LOG_LEVEL: 'warn' };
  for (const [identifier, scope] of [
    [FILES, 'files:read'],
    [MAIL, 'mail:send'],
  ] as const) {
    const resource = await cli('resources', 'create', '--identifier', identifier, '--name', identifier, '--scope', `${scope}=${scope}`, '--scope', `${scope.split(':')[0]}:write=write`, '--json');
    expect(resource.code).toBe(0);
  }
});
afterAll(async () => {
  await database.drop();
});

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function clientCredentials(server: TestServer, id: string, secret: string, params: Record<string, string>) {
  const response = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
  });
  return { status: response.status, body: (await response.json()) as { access_token?: string; error?: string } };
}

async function introspect(server: TestServer, id: string, secret: string, token: string) {
  const response = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  return (await response.json()) as { active: boolean } & Record<string, unknown>;
}

it('registers an app with --resource and --scope, and a resource server’s introspection client without a redirect URI; each works as registered', async () => {
  const created = await cli('clients', 'create', '--name', 'Nightly job', '--grant-type', 'client_credentials', '--resource', FILES, '--scope', 'files:read', '--json');
  expect(created).toMatchObject({ code: 0, stderr: '' });
  const app = JSON.parse(created.stdout) as { client_id: string; client_secret: string; resources: string[]; scopes: string[] };
  expect(app).toMatchObject({ resources: [FILES], scopes: ['files:read'], grant_types: ['client_credentials'], client_secret: expect.stringMatching(/^aa_cs_[A-Za-z0-9_-]{43}$/) });

  // The README's command for a resource server: no redirect URI needed, no ceilings given.
  const filesApi = await cli('clients', 'create', '--name', 'Files API', '--grant-type', 'client_credentials', '--resource-server', FILES);
  expect(filesApi.code).toBe(0);
  const introspector = {
    id: /^client_id: +(\S+)$/m.exec(filesApi.stdout)![1]!,
    secret: /^client_secret: +(\S+)$/m.exec(filesApi.stdout)![1]!,
  };
  expect(filesApi.stdout).toMatch(/^resources: +\(none: no access token for any resource\)$/m);
  expect(filesApi.stdout).toMatch(new RegExp(`^introspects: +${FILES}$`, 'm'));

  const rows = await query<{ id: string; secret_hash: string; metadata: object; scopes: string[]; resources: string[] }>(
    'SELECT id, secret_hash, metadata, scopes, resources FROM clients WHERE id = ANY($1)',
    [[app.client_id, introspector.id]],
  );
  expect(rows).toHaveLength(2);
  for (const row of rows) expect(row.secret_hash).toMatch(/^hmac-sha256:/);
  expect(JSON.stringify(rows)).not.toContain(app.client_secret);
  expect(JSON.stringify(rows)).not.toContain(introspector.secret);
  // Ceilings are the policy's columns, never a `scope` in the OAuth metadata (oidc-provider would refuse the client).
  expect(rows.find((row) => row.id === app.client_id)).toMatchObject({ scopes: ['files:read'], resources: [FILES] });
  expect(rows.find((row) => row.id === app.client_id)!.metadata).not.toHaveProperty('scope');

  const server = await startTestServer({ database, kek });
  try {
    const token = await clientCredentials(server, app.client_id, app.client_secret, { resource: FILES, scope: 'files:read' });
    expect(token.status).toBe(200);
    expect(await clientCredentials(server, app.client_id, app.client_secret, { resource: FILES, scope: 'files:write' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    expect(await clientCredentials(server, app.client_id, app.client_secret, { resource: MAIL, scope: 'mail:send' })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });

    expect(await introspect(server, introspector.id, introspector.secret, token.body.access_token!)).toMatchObject({ active: true, client_id: app.client_id, aud: FILES });
    expect(await clientCredentials(server, introspector.id, introspector.secret, { resource: FILES, scope: 'files:read' })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
  } finally {
    await server.stop();
  }
});

it('updates an app’s ceilings with clients update (an existing app given ceilings after the upgrade) and lists apps', async () => {
  const created = await cli('clients', 'create', '--name', 'Old app', '--json');
  expect(created.code).toBe(0);
  const app = JSON.parse(created.stdout) as { client_id: string; client_secret: string; grant_types: string[]; resources: string[] };
  expect(app).toMatchObject({ grant_types: ['client_credentials'], resources: [] });

  const updated = await cli('clients', 'update', '--id', app.client_id, '--resource', FILES, '--resource', MAIL, '--scope', 'files:read mail:send', '--json');
  expect(updated.code).toBe(0);
  expect(JSON.parse(updated.stdout)).toMatchObject({ client_id: app.client_id, name: 'Old app', resources: [FILES, MAIL], scopes: ['files:read', 'mail:send'] });
  expect(updated.stdout).not.toContain(app.client_secret);

  const listed = await cli('clients', 'list', '--json');
  expect(listed.code).toBe(0);
  const apps = JSON.parse(listed.stdout) as Array<{ client_id: string; resources: string[] }>;
  expect(apps.find((item) => item.client_id === app.client_id)).toMatchObject({ resources: [FILES, MAIL] });
  expect(listed.stdout).not.toContain(app.client_secret);
  const table = await cli('clients', 'list');
  expect(table.stdout.split('\n')[0]).toBe('client_id\tname\tgrant_types\tresources\tscopes');
  expect(table.stdout).toContain(`${app.client_id}\tOld app\tclient_credentials\t${FILES} ${MAIL}\tfiles:read mail:send`);

  const server = await startTestServer({ database, kek });
  try {
    expect((await clientCredentials(server, app.client_id, app.client_secret, { resource: MAIL, scope: 'mail:send' })).status).toBe(200);
  } finally {
    await server.stop();
  }
});

it('audits every CLI write (resources, clients, users, keys, admin keys) as the CLI’s admin', async () => {
  const resource = await cli('resources', 'create', '--identifier', 'https://audited.example.test', '--name', 'Audited', '--scope', 'a:read=Read');
  expect(resource.code).toBe(0);
  const created = JSON.parse((await cli('clients', 'create', '--name', 'Audited app', '--resource', 'https://audited.example.test', '--scope', 'a:read', '--json')).stdout) as { client_id: string };
  expect((await cli('clients', 'update', '--id', created.client_id, '--name', 'Audited app, renamed')).code).toBe(0);
  const user = await new Promise<Run>((resolve) => {
    const child = execFile(process.execPath, [BIN, 'users', 'create', '--username', 'audited.human', '--password-stdin'], { env }, (error, stdout, stderr) =>
      resolve({ code: error ? 1 : 0, stdout, stderr }),
    );
    child.stdin!.end('correct horse battery staple');
  });
  expect(user.code).toBe(0);
  // The servers started above created the keys; rotating them now is forced (the next key is brand new).
  expect((await cli('keys', 'rotate', '--force')).code).toBe(0);
  expect((await cli('admin-keys', 'create', '--name', 'ops')).code).toBe(0);

  const events = await query<{ action: string; actor_kind: string; actor_id: string; client_id: string | null; user_id: string | null; details: Record<string, unknown> }>(
    "SELECT action, actor_kind, actor_id, client_id, user_id, details FROM audit_events WHERE actor_kind = 'admin' ORDER BY seq",
  );
  for (const event of events) expect(event).toMatchObject({ actor_kind: 'admin', actor_id: 'cli' });
  expect(events).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ action: 'resource.created', details: expect.objectContaining({ identifier: 'https://audited.example.test' }) }),
      expect.objectContaining({ action: 'client.created', client_id: created.client_id, details: expect.objectContaining({ resources: ['https://audited.example.test'], scopes: ['a:read'] }) }),
      expect.objectContaining({ action: 'client.updated', client_id: created.client_id, details: expect.objectContaining({ fields: ['name'] }) }),
      expect.objectContaining({ action: 'user.created', user_id: expect.any(String), details: { username: 'audited.human' } }),
      expect.objectContaining({ action: 'keys.rotated', details: expect.objectContaining({ current: expect.any(String), forced: true }) }),
      expect.objectContaining({ action: 'admin_key.created', details: expect.objectContaining({ name: 'ops', role: 'admin' }) }),
    ]),
  );

  // A refused write leaves no event behind.
  const before = events.length;
  expect((await cli('clients', 'create', '--name', 'Refused', '--resource', 'https://unregistered.example.test')).code).toBe(2);
  expect(await query("SELECT 1 FROM audit_events WHERE actor_kind = 'admin'")).toHaveLength(before);
});

it('refuses bad input with a usage error (exit 2) that names the flag, and registers nothing', async () => {
  const before = (await query<{ count: string }>('SELECT count(*) FROM clients'))[0]!.count;
  const refusals: Array<[string[], RegExp]> = [
    [['--grant-type', 'authorization_code'], /--redirect-uri: authorization_code needs at least one redirect URI/],
    [['--auth-method', 'client_secret_jwt'], /--auth-method must be one of/],
    [['--scope', 'files:read'], /--scope: files:read is not defined by any of the resources/],
    [['--resource', 'https://unregistered.example.test'], /--resource: https:\/\/unregistered\.example\.test is not a registered resource server/],
    [['--resource-server', 'https://unregistered.example.test'], /--resource-server: .* is not a registered resource server/],
    [['--application-type', 'desktop'], /--application-type must be one of web, native/],
  ];
  for (const [args, message] of refusals) {
    const run = await cli('clients', 'create', '--name', 'Web', ...args);
    expect({ args, code: run.code }).toEqual({ args, code: 2 });
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  }
  expect(await query<{ count: string }>('SELECT count(*) FROM clients')).toEqual([{ count: before }]);

  expect(await cli('clients', 'update', '--id', '00000000-0000-4000-8000-000000000000', '--name', 'x')).toMatchObject({ code: 2, stderr: expect.stringMatching(/no app/) });
  expect(await cli('clients', 'update', '--name', 'x')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--id is required/) });
  expect(await cli('resources', 'create', '--identifier', 'not a url', '--name', 'x')).toMatchObject({ code: 2, stderr: expect.stringMatching(/identifier/) });
});

it('prints usage for --help on each clients command', async () => {
  for (const command of ['create', 'list', 'update']) {
    const help = await cli('clients', command, '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^usage: agentauth clients ${command}`));
  }
  const create = await cli('clients', 'create', '--help');
  expect(create.stdout).toContain('--resource <identifier>');
  expect(create.stdout).toContain('--scope <name>');
  expect(create.stdout).toContain('--application-type web|native');
});
