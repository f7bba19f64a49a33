// Where the test suite's databases live: the server named by DATABASE_URL when set (CI points it at the machine's
// PostgreSQL), otherwise an embedded PostgreSQL started for this run. Every database a run creates is named
// `agentauth_t<run id>_...`, so runs sharing a server never touch each other's and teardown drops them all.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

type TestRun = { serverUrl: string; prefix: string; template: string };

/** What the global setup (test/support/global-setup.mjs) chose for this run. */
export function testRun(): TestRun {
  const serverUrl = process.env.AGENTAUTH_TEST_SERVER_URL;
  const prefix = process.env.AGENTAUTH_TEST_DB_PREFIX;
  const template = process.env.AGENTAUTH_TEST_TEMPLATE_DB;
  if (!serverUrl || !prefix || !template) throw new Error('the test database server is not set up: run tests through `npm test`');
  return { serverUrl, prefix, template };
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function withServerClient<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export type TestDatabase = { name: string; url: string; drop(): Promise<void> };

/** A new database of this test run: a copy of the migrated template, or empty. */
export async function createTestDatabase(options: { migrated: boolean } = { migrated: true }): Promise<TestDatabase> {
  const { serverUrl, prefix, template } = testRun();
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
  await withServerClient(serverUrl, (client) =>
    client.query(`CREATE DATABASE ${name}${options.migrated ? ` TEMPLATE ${template}` : ''}`),
  );
  return {
    name,
    url: databaseUrl(serverUrl, name),
    drop: () => withServerClient(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
