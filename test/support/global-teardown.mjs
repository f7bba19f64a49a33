// Drops every database this run created (including what a crashed test left behind) and stops the embedded
// PostgreSQL started by the global setup, if any.
import { rm } from 'node:fs/promises';
import pg from 'pg';

export default async function globalTeardown() {
  const serverUrl = process.env.AGENTAUTH_TEST_SERVER_URL;
  const prefix = process.env.AGENTAUTH_TEST_DB_PREFIX;
  if (serverUrl && prefix) {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [prefix]);
      for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
  const state = globalThis.__agentauthTest;
  if (state) {
    await state.embedded.stop();
    await rm(state.dataDir, { recursive: true, force: true });
  }
}
