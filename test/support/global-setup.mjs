// Runs once before the suite: picks the PostgreSQL server (DATABASE_URL, else an embedded one started for this run)
// and builds the migrated template database each test copies. Workers inherit the environment variables set here.
// Plain JavaScript on the build output (`npm test` builds first): jest loads global setup outside its ESM
// transform pipeline.
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedDatabase } from '../../dist/src/db/embedded.js';
import { applyMigrations } from '../../dist/src/db/migrate.js';
import { createLogger } from '../../dist/src/observability/logger.js';

export default async function globalSetup() {
  const log = createLogger('warn');
  // oidc-provider's "Unsupported runtime" warning (Node < 22), shown once for the whole run instead of once per test
  // file; test/support/runtime-warning.ts drops the repeats.
  const lts = process.release.lts;
  if (!lts || lts < 'Jod') {
    process.stderr.write(`oidc-provider WARNING: Unsupported runtime. Use Node.js v22.x LTS, or a later LTS release. (Node ${process.version}: shown once for this test run)\n`);
    process.env.AGENTAUTH_TEST_RUNTIME_WARNING_SHOWN = '1';
  }
  let serverUrl;
  if (process.env.DATABASE_URL) {
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = '/postgres';
    serverUrl = url.toString();
  } else {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-test-'));
    const embedded = await startEmbeddedDatabase(dataDir, log, 'postgres');
    globalThis.__agentauthTest = { embedded, dataDir };
    serverUrl = embedded.serverUrl;
  }
  const prefix = `agentauth_t${randomBytes(3).toString('hex')}_`;
  const template = `${prefix}template`;
  process.env.AGENTAUTH_TEST_SERVER_URL = serverUrl;
  process.env.AGENTAUTH_TEST_DB_PREFIX = prefix;
  process.env.AGENTAUTH_TEST_TEMPLATE_DB = template;

  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${template}`);
  } finally {
    await client.end();
  }
  const templateUrl = new URL(serverUrl);
  templateUrl.pathname = `/${template}`;
  await applyMigrations(templateUrl.toString(), log);
}
