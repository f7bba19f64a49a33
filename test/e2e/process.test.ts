// `npm start` as users run it: a separate process, started with nothing but environment variables.
import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase } from '../support/postgres-server.js';
import { spawnServer } from '../support/process.js';

jest.setTimeout(120_000);

it('starts with no database server configured: embedded PostgreSQL, migrations, keys, discovery', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-embedded-'));
  const server = await spawnServer({ AGENTAUTH_DATA_DIR: dataDir });
  try {
    const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as { issuer: string };
    expect(discovery.issuer).toMatch(/^http:\/\/localhost:\d+$/);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect(existsSync(path.join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'kek'))).toBe(true);
  } finally {
    expect(await server.terminate()).toBe(0);
  }
  // Stopped cleanly: PostgreSQL removes its pid file on a clean shutdown.
  expect(existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  await rm(dataDir, { recursive: true, force: true });
});

it('two servers starting at once on one empty database both come up and share one key set', async () => {
  const database = await createTestDatabase({ migrated: false });
  const env = { DATABASE_URL: database.url, AGENTAUTH_KEK: randomBytes(32).toString('base64url') };
  const [a, b] = await Promise.all([spawnServer(env), spawnServer(env)]);
  try {
    for (const server of [a, b]) expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const jwksA = await (await fetch(`${a.url}/jwks`)).json();
    const jwksB = await (await fetch(`${b.url}/jwks`)).json();
    expect(jwksA).toEqual(jwksB);
    const applied = [...a.logs, ...b.logs].filter((entry) => entry.msg === 'database migrations applied');
    expect(applied).toHaveLength(1);
    expect([...a.logs, ...b.logs].filter((entry) => entry.msg === 'database schema up to date')).toHaveLength(1);
  } finally {
    await Promise.all([a.terminate(), b.terminate()]);
    await database.drop();
  }
});

it('refuses to start when AGENTAUTH_KEK cannot decrypt the stored keys', async () => {
  const database = await createTestDatabase();
  const first = await spawnServer({ DATABASE_URL: database.url, AGENTAUTH_KEK: randomBytes(32).toString('base64url') });
  await first.terminate();
  await expect(spawnServer({ DATABASE_URL: database.url, AGENTAUTH_KEK: randomBytes(32).toString('base64url') })).rejects.toThrow(
    /cannot decrypt key/,
  );
  await database.drop();
});

it('refuses to start with an external database and no AGENTAUTH_KEK, saying why', async () => {
  await expect(spawnServer({ DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/none' })).rejects.toThrow(/AGENTAUTH_KEK is required/);
});

it('on SIGTERM finishes the request in flight before exiting', async () => {
  const database = await createTestDatabase();
  const server = await spawnServer({ DATABASE_URL: database.url, AGENTAUTH_KEK: randomBytes(32).toString('base64url') });
  const { port } = new URL(server.url);
  // A request whose body is still arriving when the signal comes: the server must wait for it and answer.
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const body = 'grant_type=client_credentials&client_id=nobody';
  socket.write(`POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
  socket.write(body.slice(0, 10));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const exited = server.terminate();
  await new Promise((resolve) => setTimeout(resolve, 300));
  socket.write(body.slice(10));
  let response = '';
  socket.on('data', (chunk) => (response += chunk.toString()));
  await new Promise((resolve) => socket.once('close', resolve));
  expect(response).toMatch(/^HTTP\/1\.1 (400|401) /);
  expect(response).toContain('invalid_client');
  expect(await exited).toBe(0);
  expect(server.logs.some((entry) => entry.msg === 'stopped')).toBe(true);
  await database.drop();
});
