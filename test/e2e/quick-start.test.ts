// The README's quick start, run as written: `npm start` on a fresh embedded database, then every shell command of
// the section in one bash, against the real server over HTTP, while Chromium does the one step a person does
// (sign in on /approvals and approve the agent's request). If the README drifts from the server, this fails.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { freePort } from '../support/server.js';
import { npmStart, ROOT, type NpmStart } from '../support/npm-start.js';

jest.setTimeout(180_000);

const KEY_LINE = /^agentauth: bootstrap admin key \(shown once[^)]*\): (aa_ak_[A-Za-z0-9_-]{43})$/;
const PLACEHOLDER = '<the admin key npm start printed>';

/** The fenced `sh` blocks of the README's quick start section, in order. */
function quickStartBlocks(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Quick start');
  expect(start).toBeGreaterThan(-1);
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

/** Each top-level JSON value printed by the commands (jq pretty-prints, curl prints compact bodies). */
function jsonValues(output: string): Array<Record<string, unknown>> {
  const values: Array<Record<string, unknown>> = [];
  let depth = 0;
  let begin = -1;
  let inString = false;
  for (let i = 0; i < output.length; i += 1) {
    const c = output[i];
    if (inString) {
      if (c === '\\') i += 1;
      else if (c === '"') inString = false;
    } else if (c === '"' && depth > 0) inString = true;
    else if (c === '{') {
      if (depth === 0) begin = i;
      depth += 1;
    } else if (c === '}' && depth > 0) {
      depth -= 1;
      if (depth === 0) values.push(JSON.parse(output.slice(begin, i + 1)) as Record<string, unknown>);
    }
  }
  return values;
}

let dataDir: string;
let server: NpmStart | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-quickstart-'));
});
afterAll(async () => {
  await browser?.close();
  if (server && server.npm.exitCode === null) {
    process.kill(-server.npm.pid!, 'SIGTERM');
    await server.exited;
  }
  await rm(dataDir, { recursive: true, force: true });
});

it('takes a newcomer from npm start to a delegated, introspected and revoked token, exactly as the README says', async () => {
  const [startBlock, ...blocks] = quickStartBlocks();
  expect(startBlock!.trim().split('\n')).toEqual(['npm install', 'npm start']);
  expect(blocks.join('\n')).toContain(PLACEHOLDER);

  const port = await freePort();
  server = await npmStart({ PORT: String(port), AGENTAUTH_DATA_DIR: dataDir });
  const base = `http://localhost:${port}`;

  // The first start tells the person what to do next, on the console and not in the structured log.
  const keyLine = await server.waitForLine(KEY_LINE);
  const adminKey = KEY_LINE.exec(keyLine)![1]!;
  const console = server.lines.filter((line) => line.stream === 'stdout' && !line.text.startsWith('{')).map((line) => line.text).join('\n');
  expect(console).toContain('Next steps:');
  expect(console).toContain(`${base}/admin/v1/openapi.json`);
  expect(console).toContain('README.md, section "Quick start"');
  expect(server.lines.filter((line) => line.text.startsWith('{') && line.text.includes(adminKey))).toEqual([]);

  const script = blocks.join('\n').replaceAll(PLACEHOLDER, adminKey).replaceAll('http://localhost:3000', base);
  const work = await mkdtemp(path.join(os.tmpdir(), 'agentauth-quickstart-sh-'));
  const shell = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  shell.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const shellExit = once(shell, 'exit').then(([code]) => code as number | null);

  // The browser step, while the agent's loop waits: sign in as alice and approve the request.
  browser = await launchChromium();
  const page = await browser.newPage();
  await page.goto(`${base}/approvals`);
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const approve = page.getByRole('button', { name: 'Approve request from Filing assistant' });
  for (let attempt = 0; attempt < 60 && !(await approve.isVisible()); attempt += 1) {
    if (shell.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
    await page.reload();
  }
  // What the agent said it wants to do is on the page, for alice to compare with what the agent shows her.
  expect(await page.getByText('Tidy up your files').isVisible()).toBe(true);
  await approve.click();
  await page.waitForURL(`${base}/approvals`);

  const code = await shellExit;
  await rm(work, { recursive: true, force: true });
  if (code !== 0) throw new Error(`the quick start failed (exit ${code}):\n${stdout}\n${stderr}`);

  const printed = jsonValues(stdout);
  const agentId = await (await fetch(`${base}/admin/v1/agents`, { headers: { authorization: `Bearer ${adminKey}` } })).json().then(
    (body) => (body as { items: Array<{ id: string; name: string }> }).items.find((agent) => agent.name === 'Filing assistant')!.id,
  );
  const introspections = printed.filter((value) => 'active' in value);
  expect(introspections).toHaveLength(2);
  expect(introspections[0]).toMatchObject({
    active: true,
    scope: 'files:read',
    aud: 'https://files.example',
    client_id: agentId,
    sub_profile: 'user',
    act: { sub: agentId, sub_profile: 'ai_agent' },
  });
  expect(introspections[1]).toEqual({ active: false });
  expect(printed.find((value) => 'revoked' in value)).toEqual({ revoked: expect.any(Number) });
  expect((printed.find((value) => 'revoked' in value)!.revoked as number)).toBeGreaterThanOrEqual(2);

  // Alice's page no longer lists what she approved.
  await page.reload();
  expect(await page.getByRole('button', { name: 'Withdraw' }).count()).toBe(0);
});
