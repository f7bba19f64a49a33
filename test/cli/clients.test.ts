// `agentauth clients create` and `resources create` as an operator runs them: a separate process on the server's
// database; the client secret is printed once and stored only as a keyed hash, and what they register works.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'agentauth.mjs');
let database: TestDatabase;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  database = await createTestDatabase();
  env = { PATH: process.env.PATH, DATABASE_URL: database.url, AGENTAUTH_KEK: randomBytes(32).toString('base64url'), LOG_LEVEL: 'warn' };
});
afterAll(async () => {
  await database.drop();
});

const cli = (...args: string[]) => run(process.execPath, [BIN, ...args], { env });

it('registers a resource server and an app; the secret is shown once and stored as a keyed hash', async () => {
  const resource = await cli('resources', 'create', '--identifier', 'https://files.example.test', '--name', 'Files', '--scope', 'files:read=Read your files', '--approval-scope', 'files:delete=Delete files', '--json');
  expect(JSON.parse(resource.stdout)).toMatchObject({
    identifier: 'https://files.example.test',
    scopes: [
      { name: 'files:read', description: 'Read your files', requires_approval: false },
      { name: 'files:delete', description: 'Delete files', requires_approval: true },
    ],
  });

  const { stdout } = await cli('clients', 'create', '--name', 'Nightly job', '--grant-type', 'client_credentials', '--json');
  const created = JSON.parse(stdout) as { client_id: string; client_secret: string };
  expect(created.client_secret).toMatch(/^aa_cs_[A-Za-z0-9_-]{43}$/);

  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  const { rows } = await db.query<{ secret_hash: string; metadata: object }>('SELECT secret_hash, metadata FROM clients WHERE id = $1', [created.client_id]);
  await db.end();
  expect(rows[0]!.secret_hash).toMatch(/^hmac-sha256:/);
  expect(JSON.stringify(rows[0])).not.toContain(created.client_secret);
});

it('refuses bad input with a usage error (exit 2) and registers nothing', async () => {
  await expect(cli('clients', 'create', '--name', 'Web', '--grant-type', 'authorization_code')).rejects.toMatchObject({
    code: 2,
    stderr: expect.stringMatching(/--redirect-uri is required/),
  });
  await expect(cli('clients', 'create', '--name', 'Web', '--auth-method', 'client_secret_jwt')).rejects.toMatchObject({ code: 2 });
  await expect(cli('resources', 'create', '--identifier', 'not a url', '--name', 'x')).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/identifier/) });
});
