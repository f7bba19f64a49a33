// The server outlives a database outage: /readyz reports it (503) while /healthz stays up, and both recover when
// the database returns, without a restart. The database here is a real PostgreSQL that the test stops and starts.
import { jest } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { createLogger } from '../../src/observability/logger.js';
import { startTestServer, type TestServer } from '../support/server.js';

jest.setTimeout(120_000);

let dataDir: string;
let database: EmbeddedDatabase;
let server: TestServer;
const log = createLogger('silent');

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-outage-'));
  database = await startEmbeddedDatabase(dataDir, log);
  server = await startTestServer({ database: { name: 'agentauth', url: database.url, drop: async () => {} } });
});

afterAll(async () => {
  await server?.stop();
  await database?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function status(pathname: string): Promise<number> {
  return (await fetch(`${server.url}${pathname}`)).status;
}

async function eventually(pathname: string, expected: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    last = await status(pathname);
    if (last === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${pathname} answered ${last}, expected ${expected} within ${timeoutMs} ms`);
}

it('reports 503 on /readyz while the database is stopped and 200 again once it is back', async () => {
  expect(await status('/readyz')).toBe(200);
  expect(await status('/.well-known/openid-configuration')).toBe(200);

  await database.stop();
  await eventually('/readyz', 503);
  expect(await status('/healthz')).toBe(200);

  database = await startEmbeddedDatabase(dataDir, log, 'agentauth', { port: database.port });
  await eventually('/readyz', 200);
  expect(await status('/healthz')).toBe(200);
});
