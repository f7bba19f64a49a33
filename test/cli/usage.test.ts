// The CLI's contract with the person at the terminal: help on every command, usage and exit 2 for a missing or
// unknown command, and `kek generate`, which works before any configuration exists.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { commands } from '../../src/cli/commands/index.js';
import { parseKek } from '../../src/keys/kek.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'agentauth.mjs'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
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

it('with no command prints the usage with every command to stderr and exits 2', async () => {
  const result = await cli([]);
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr).toContain('usage: agentauth <command> [options]');
  for (const command of commands) expect(result.stderr).toContain(command.name);
});

it.each([['frobnicate'], ['users'], ['users', 'delete'], ['--verbose']])('refuses the unknown command %s with usage and exit 2', async (...args) => {
  const result = await cli(args);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(`agentauth: unknown command: ${args.join(' ')}`);
  expect(result.stderr).toContain('usage: agentauth <command> [options]');
});

it('answers --help and -h with the command list on stdout and exit 0', async () => {
  for (const flag of ['--help', '-h']) {
    const result = await cli([flag]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('usage: agentauth <command> [options]');
  }
});

it('gives every command its own --help without touching a database', async () => {
  // A database URL that cannot answer: help must not try it.
  const env = { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' };
  for (const command of commands) {
    const result = await cli([...command.name.split(' '), '--help'], env);
    expect({ command: command.name, code: result.code }).toEqual({ command: command.name, code: 0 });
    expect(result.stdout).toContain(`usage: agentauth ${command.name} `);
    expect(result.stdout).toContain(command.summary);
  }
});

it('kek generate prints a new 32-byte KEK, different each time, even with DATABASE_URL and no KEK configured', async () => {
  const env = { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' };
  const first = await cli(['kek', 'generate'], env);
  const second = await cli(['kek', 'generate'], env);
  expect(first.code).toBe(0);
  expect(parseKek(first.stdout)).toHaveLength(32);
  expect(first.stdout.trim()).not.toBe(second.stdout.trim());
  const asEnv = await cli(['kek', 'generate', '--env']);
  expect(asEnv.stdout).toMatch(/^AGENTAUTH_KEK=[A-Za-z0-9_-]{43}\n$/);
});

it('names `npx agentauth kek generate` when DATABASE_URL is set without AGENTAUTH_KEK, and exits 2', async () => {
  const result = await cli(['keys', 'list'], { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' });
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('AGENTAUTH_KEK is required');
  expect(result.stderr).toContain('npx agentauth kek generate');
});

it('refuses a bad option of a known command with exit 2', async () => {
  const result = await cli(['kek', 'generate', '--nope']);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/agentauth: .*--nope/);
});
