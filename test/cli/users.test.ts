// `agentauth users create` as an operator runs it: a separate process against a database, the password on stdin.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const password = 'a long enough passphrase for carol';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

function cli(args: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'agentauth.mjs'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: database.url, AGENTAUTH_KEK: randomBytes(32).toString('base64url'), LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function storedHash(username: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE username = $1', [username]);
    return rows[0]?.password_hash;
  } finally {
    await client.end();
  }
}

it('creates a user from a password on stdin, stores it as argon2id, and never prints it', async () => {
  const result = await cli(['users', 'create', '--username', 'Carol', '--display-name', 'Carol Example', '--password-stdin', '--json'], `${password}\n`);
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout)).toMatchObject({ username: 'carol', display_name: 'Carol Example', status: 'active' });
  expect(result.stdout + result.stderr).not.toContain(password);
  expect(await storedHash('carol')).toMatch(/^\$argon2id\$/);
}, 60_000);

it('refuses a password passed as an argument', async () => {
  const result = await cli(['users', 'create', '--username', 'dave', '--password', password], '');
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/password/);
  expect(await storedHash('dave')).toBeUndefined();
}, 60_000);

it('explains a password that is too short, and a taken username', async () => {
  const short = await cli(['users', 'create', '--username', 'erin', '--password-stdin'], 'short');
  expect(short.code).toBe(2);
  expect(short.stderr).toMatch(/password: 12 to 1024 characters/);
  expect(short.stderr).not.toContain('short\n');

  const taken = await cli(['users', 'create', '--username', 'carol', '--password-stdin'], password);
  expect(taken.code).toBe(2);
  expect(taken.stderr).toMatch(/carol is taken/);
}, 60_000);
