// `agentauth admin-keys create` as an operator runs it: a separate process against a database. The key is printed
// once, stored only as its keyed hash, and works at the admin API of a server on the same database.
import { jest } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';
import { newKek, openDatabase, runCli } from '../support/keys.js';
import { startTestServer } from '../support/server.js';
import { adminClient } from '../admin/support.js';

jest.setTimeout(90_000);

let database: TestDatabase;
const kek = newKek();
const cli = (...args: string[]) => runCli(['admin-keys', 'create', ...args], { DATABASE_URL: database.url, AGENTAUTH_KEK: kek });

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

it('creates an admin key, prints it once, and the key works against a server on the same database', async () => {
  const run = await cli('--name', 'ops laptop');
  expect(run.code).toBe(0);
  const key = /^key: +(aa_ak_[A-Za-z0-9_-]{43})$/m.exec(run.stdout)?.[1];
  expect(key).toBeDefined();
  expect(run.stdout).toMatch(/admin key id: [0-9a-f-]{36} \(admin\)/);
  expect(run.stderr).not.toContain(key!);

  const db = openDatabase(database.url);
  try {
    const rows = await db.prisma.adminKey.findMany();
    expect(rows).toEqual([expect.objectContaining({ name: 'ops laptop', role: 'admin', createdBy: null, keyHash: expect.stringMatching(/^hmac-sha256:/) })]);
    expect(JSON.stringify(rows)).not.toContain(key!);
    const events = await db.prisma.auditEvent.findMany({ where: { action: 'admin_key.created' } });
    expect(events).toEqual([expect.objectContaining({ actorKind: 'admin', actorId: 'cli', details: expect.objectContaining({ via: 'cli', role: 'admin' }) })]);
  } finally {
    await db.close();
  }

  // A key has existed, so the server bootstraps none of its own; the CLI's key is an admin's.
  const server = await startTestServer({ database, kek });
  try {
    const call = adminClient(server, key!);
    const listed = await call('GET', '/admin-keys');
    expect(listed.status).toBe(200);
    expect(listed.body.items).toHaveLength(1);
    expect((await call('POST', '/admin-keys', { name: 'made by the CLI key', role: 'auditor' })).status).toBe(201);
  } finally {
    await server.stop();
  }
});

it('creates an auditor key with --role auditor, as JSON with --json', async () => {
  const run = await cli('--name', 'reader', '--role', 'auditor', '--json');
  expect(run.code).toBe(0);
  const printed = JSON.parse(run.stdout) as { id: string; name: string; role: string; key: string };
  expect(printed).toEqual({ id: expect.any(String), name: 'reader', role: 'auditor', key: expect.stringMatching(/^aa_ak_/) });

  const server = await startTestServer({ database, kek });
  try {
    const call = adminClient(server, printed.key);
    expect((await call('GET', '/users')).status).toBe(200);
    expect((await call('POST', '/users', { username: 'x', password: 'correct horse battery staple' })).status).toBe(403);
  } finally {
    await server.stop();
  }
});

it('refuses a missing name and an unknown role, saying how to fix the call', async () => {
  const noName = await cli();
  expect(noName.code).toBe(2);
  expect(noName.stderr).toMatch(/--name is required/);
  const badRole = await cli('--name', 'x', '--role', 'root');
  expect(badRole.code).toBe(2);
  expect(badRole.stderr).toMatch(/--role must be one of admin, auditor/);
  expect(noName.stdout + badRole.stdout).toBe('');
});
