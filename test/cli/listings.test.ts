// What the operator's listing commands say: `keys list` dates the activation of every key in use (cookie keys too),
// `resources list` marks approval-only scopes, and `audit verify` on a database with no events says so plainly.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';
import { startTestServer } from '../support/server.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const kek = randomBytes(32).toString('base64url');

function cli(database: TestDatabase, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'agentauth.mjs'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: database.url, AGENTAUTH_KEK: kek, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

it('audit verify on a database without events says there is nothing to verify yet, and succeeds', async () => {
  const database = await createTestDatabase();
  try {
    const result = await cli(database, ['audit', 'verify']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('no chained audit events to verify yet');
    expect(result.stdout).not.toMatch(/seq 1\.\.0/);
    expect(result.stdout.trim().split('\n').at(-1)).toBe('OK');
  } finally {
    await database.drop();
  }
}, 60_000);

it('keys list dates the activation of the signing and the cookie key in use; resources list marks approval-only scopes', async () => {
  const database = await createTestDatabase();
  const server = await startTestServer({ database, kek });
  try {
    await server.stores.resources.create({
      identifier: 'https://files.example.test',
      name: 'Files',
      scopes: [
        { name: 'files:read', description: 'Read your files' },
        { name: 'files:delete', description: 'Delete your files', requires_approval: true },
      ],
    });
  } finally {
    await server.close();
  }
  try {
    const keys = await cli(database, ['keys', 'list']);
    expect(keys.code).toBe(0);
    const current = keys.stdout.split('\n').filter((line) => line.split('\t')[2] === 'current');
    expect(current.map((line) => line.split('\t')[0]).sort()).toEqual(['cookie', 'signing']);
    for (const line of current) expect(line.split('\t')[4]).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    const next = keys.stdout.split('\n').filter((line) => line.split('\t')[2] === 'next');
    for (const line of next) expect(line.split('\t')[4]).toBe('-');

    const resources = await cli(database, ['resources', 'list']);
    expect(resources.code).toBe(0);
    expect(resources.stdout).toContain('https://files.example.test\tFiles\tfiles:read files:delete*');
    expect(resources.stdout).toContain('* approval-only: a fresh human approval for every token');
  } finally {
    await database.drop();
  }
}, 60_000);
