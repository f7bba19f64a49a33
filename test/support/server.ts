// Real agentauth servers for tests: in-process, on a fresh migrated database, listening on a free loopback port.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from './postgres-server.js';

export type TestServer = RunningServer & { database: TestDatabase; config: Config; stop(): Promise<void> };

export async function startTestServer(
  options: { database?: TestDatabase; env?: Record<string, string>; kek?: string; logs?: NodeJS.WritableStream } = {},
): Promise<TestServer> {
  const database = options.database ?? (await createTestDatabase());
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-srv-'));
  // The issuer must be the origin clients call (endpoint URLs are built from the request), so the port is fixed
  // up front.
  const port = await freePort();
  const config = loadConfig(
    {
      DATABASE_URL: database.url,
      PORT: String(port),
      ISSUER: `http://127.0.0.1:${port}`,
      HOST: '127.0.0.1',
      AGENTAUTH_KEK: options.kek ?? randomBytes(32).toString('base64url'),
      // A known bootstrap key keeps the server from printing a generated one on every test start.
      AGENTAUTH_BOOTSTRAP_ADMIN_KEY: `aa_ak_${randomBytes(32).toString('base64url')}`,
      AGENTAUTH_DATA_DIR: dataDir,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ...options.env,
    },
    dataDir,
  );
  const server = await startServer(config, createLogger(config.logLevel, options.logs));
  return {
    ...server,
    database,
    config,
    async stop() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
      if (!options.database) await database.drop();
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
