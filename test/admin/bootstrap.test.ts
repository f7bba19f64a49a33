// The first admin key: from AGENTAUTH_BOOTSTRAP_ADMIN_KEY, or generated and printed once to the console (never to
// the structured log); only when no admin key has ever existed, so a revoked bootstrap key never comes back.
import { jest } from '@jest/globals';
import { generateSecret } from '../../src/secrets/secret-hasher.js';
import { createTestDatabase } from '../support/postgres-server.js';
import { spawnServer, type ServerProcess } from '../support/process.js';
import { startTestServer } from '../support/server.js';
import { newKek, openDatabase } from '../support/keys.js';
import { bootstrapAdminKey } from '../../src/admin/bootstrap.js';
import { createSecretHasher } from '../../src/secrets/secret-hasher.js';
import { adminClient } from './support.js';

jest.setTimeout(120_000);

const PRINTED = /^agentauth: bootstrap admin key \(shown once[^)]*\): (aa_ak_[A-Za-z0-9_-]{43})$/;

/** The keys a process printed as plain console lines (not JSON log lines). */
const printedKeys = (server: ServerProcess) =>
  server.logs.flatMap((entry) => (typeof entry.raw === 'string' ? [PRINTED.exec(entry.raw)?.[1]] : [])).filter((key): key is string => key !== undefined);

it('stores AGENTAUTH_BOOTSTRAP_ADMIN_KEY as the first admin key, which then works', async () => {
  const key = generateSecret('aa_ak');
  const server = await startTestServer({ env: { AGENTAUTH_BOOTSTRAP_ADMIN_KEY: key } });
  try {
    const listed = await adminClient(server, key)('GET', '/admin-keys');
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([expect.objectContaining({ name: 'bootstrap', role: 'admin', created_by: null, revoked_at: null })]);
    const row = await server.db.prisma.adminKey.findFirstOrThrow();
    expect(row.keyHash).toMatch(/^hmac-sha256:/);
    expect(JSON.stringify(row)).not.toContain(key);
  } finally {
    await server.stop();
  }
});

it('without the variable, prints a generated key once to the console, never to the log, and not again on restart', async () => {
  const database = await createTestDatabase();
  const env = { DATABASE_URL: database.url, AGENTAUTH_KEK: newKek() };
  try {
    const first = await spawnServer(env);
    let key: string;
    try {
      const keys = printedKeys(first);
      expect(keys).toHaveLength(1);
      key = keys[0]!;
      const jsonLines = first.logs.filter((entry) => entry.raw === undefined);
      expect(jsonLines.length).toBeGreaterThan(0);
      expect(JSON.stringify(jsonLines)).not.toContain(key);
      expect(jsonLines.map((entry) => entry.msg)).toContain('bootstrap admin key generated and printed to the console');
      expect(first.stderr.join('\n')).not.toContain(key);
      expect((await adminClient(first, key)('GET', '/admin-keys')).status).toBe(200);
    } finally {
      expect(await first.terminate()).toBe(0);
    }

    const second = await spawnServer(env);
    try {
      expect(printedKeys(second)).toEqual([]);
      expect(second.logs.some((entry) => typeof entry.raw === 'string' && entry.raw.includes('bootstrap'))).toBe(false);
      expect((await adminClient(second, key)('GET', '/admin-keys')).body.items).toHaveLength(1);
    } finally {
      await second.terminate();
    }
  } finally {
    await database.drop();
  }
});

it('does not bring a revoked bootstrap key back on restart, even with the variable still set', async () => {
  const database = await createTestDatabase();
  const kek = newKek();
  const key = generateSecret('aa_ak');
  const env = { AGENTAUTH_BOOTSTRAP_ADMIN_KEY: key };
  try {
    const first = await startTestServer({ database, kek, env });
    try {
      const call = adminClient(first, key);
      const bootstrapId = (await call('GET', '/admin-keys')).body.items[0].id;
      expect((await call('DELETE', `/admin-keys/${bootstrapId}`)).status).toBe(200);
      expect((await call('GET', '/admin-keys')).status).toBe(401);
    } finally {
      await first.stop();
    }

    const second = await startTestServer({ database, kek, env });
    try {
      expect((await adminClient(second, key)('GET', '/admin-keys')).status).toBe(401);
      expect(await second.db.prisma.adminKey.count()).toBe(1);
    } finally {
      await second.stop();
    }
  } finally {
    await database.drop();
  }
});

it('bootstraps exactly once when two servers start together on an empty database', async () => {
  const database = await createTestDatabase({ migrated: false });
  const env = { DATABASE_URL: database.url, AGENTAUTH_KEK: newKek() };
  try {
    const servers = await Promise.all([spawnServer(env), spawnServer(env)]);
    try {
      const keys = servers.flatMap(printedKeys);
      expect(keys).toHaveLength(1);
      for (const server of servers) expect((await adminClient(server, keys[0]!)('GET', '/admin-keys')).body.items).toHaveLength(1);
    } finally {
      await Promise.all(servers.map((server) => server.terminate()));
    }
  } finally {
    await database.drop();
  }
});

it('takes turns under the advisory lock: of many concurrent bootstraps exactly one creates a key', async () => {
  const database = await createTestDatabase();
  const connections = Array.from({ length: 6 }, () => openDatabase(database.url));
  const secrets = createSecretHasher(Buffer.alloc(32, 7));
  const printed: string[] = [];
  try {
    const outcomes = await Promise.all(
      connections.map((db) => bootstrapAdminKey(db.prisma, secrets, { configuredKey: undefined, log: { info: () => undefined }, print: (line) => printed.push(line) })),
    );
    expect(outcomes.filter((outcome) => outcome === 'generated')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'not needed')).toHaveLength(5);
    expect(printed).toHaveLength(1);
    expect(await connections[0]!.prisma.adminKey.count()).toBe(1);
  } finally {
    await Promise.all(connections.map((db) => db.close()));
    await database.drop();
  }
});
