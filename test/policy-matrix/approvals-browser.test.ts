// Standing approvals as a human makes them in Chromium: consenting twice to the same agent (two separate browser
// sessions) extends the one approval instead of adding a second; an approval-only (requires_approval) scope the human
// approves once, by CIBA on /approvals or by a once-only consent, is never part of the approvals table nor shown as
// standing on /approvals.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { postForm, CIBA_GRANT, type Credentials } from '../support/policy-drivers.js';
import { startTestServer, type TestServer } from '../support/server.js';

const API = 'https://files.example.test';
const alice = { username: 'alice', password: 'correct horse battery staple' };

let server: TestServer;
let browser: Browser;
let callback: { url: string; close(): Promise<void> };
let aliceId: string;
let jwks: ReturnType<typeof createRemoteJWKSet>;

beforeAll(async () => {
  const httpServer = http.createServer((_req, res) => res.writeHead(200).end('callback reached'));
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  callback = { url: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/cb`, close: () => new Promise((r) => httpServer.close(() => r())) };
  [server, browser] = await Promise.all([startTestServer({ env: { AGENTAUTH_CIBA_POLL_INTERVAL_S: '1' } }), launchChromium()]);
  jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  await server.stores.resources.create({
    identifier: API,
    name: 'Files API',
    scopes: [
      { name: 'files:read', description: 'Read your files' },
      { name: 'files:write', description: 'Change your files' },
      { name: 'files:delete', description: 'Delete your files', requires_approval: true },
    ],
    access_token_ttl: 600,
  });
  aliceId = (await server.stores.users.create(alice)).id;
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await callback?.close();
  await server?.stop();
});

let count = 0;
async function newAgent(): Promise<Credentials & { name: string }> {
  count += 1;
  const name = `Filing Agent ${count}`;
  const { agent, clientSecret } = await server.stores.agents.create({
    name,
    ownerUserId: aliceId,
    scopes: ['openid', 'offline_access', 'files:read', 'files:write', 'files:delete'],
    audiences: [API],
    tokenEndpointAuthMethod: 'client_secret_basic',
    redirectUris: [callback.url],
  });
  return { id: agent.id, secret: clientSecret!, name };
}

const configFor = (agent: Credentials) =>
  client.discovery(new URL(server.issuer), agent.id, undefined, client.ClientSecretBasic(agent.secret), { execute: [client.allowInsecureRequests] });

/** A fresh browser session (its own cookies): the human signs in again. */
async function inNewSession<T>(work: (page: Page) => Promise<T>): Promise<T> {
  const context = await browser.newContext();
  try {
    return await work(await context.newPage());
  } finally {
    await context.close();
  }
}

async function signIn(page: Page): Promise<void> {
  await page.getByLabel('Username').fill(alice.username);
  await page.getByLabel('Password').fill(alice.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * The agent's code flow in this page: the human signs in, ticks exactly `tick` among the offered permissions and
 * allows; the agent redeems the code. Answers the access token's scopes.
 */
async function consent(page: Page, agent: Credentials, scope: string, tick: string[]): Promise<string[]> {
  const config = await configFor(agent);
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: callback.url,
    scope,
    resource: API,
    prompt: 'consent',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  await page.goto(url.href);
  await signIn(page);
  await page.getByRole('heading', { level: 1, name: 'Allow an AI agent to act for you?' }).waitFor();
  for (const [label, name] of [['Read your files', 'files:read'], ['Change your files', 'files:write'], ['Delete your files', 'files:delete']] as const) {
    const box = page.getByLabel(label);
    if ((await box.count()) === 0) continue;
    await box.setChecked(tick.includes(name));
  }
  const landed = page.waitForURL((u) => u.href.startsWith(callback.url), { waitUntil: 'commit' });
  await page.getByRole('button', { name: 'Allow' }).click();
  await landed;
  const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier });
  const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: server.issuer, audience: API, typ: 'at+jwt' });
  return String(payload.scope).split(' ').sort();
}

/** What /approvals says about this agent's standing approvals, as the human reads it. */
async function standingOnApprovalsPage(page: Page, agentName: string): Promise<string> {
  await page.goto(`${server.issuer}/approvals`);
  if (await page.getByLabel('Username').count()) await signIn(page);
  await page.getByRole('heading', { level: 1, name: 'Your approvals' }).waitFor();
  const entries = page.getByRole('listitem', { name: agentName, exact: true });
  return (await entries.count()) === 0 ? '' : (await entries.allInnerTexts()).join('\n');
}

const approvalsOf = (agentId: string) => server.db.prisma.approval.findMany({ where: { userId: aliceId, agentId }, orderBy: { createdAt: 'asc' } });

it('consenting twice to the same agent, in two separate browser sessions, extends the one approval', async () => {
  const agent = await newAgent();
  expect(await inNewSession((page) => consent(page, agent, 'openid files:read', ['files:read']))).toEqual(['files:read']);
  const [first] = await approvalsOf(agent.id);
  expect(first).toMatchObject({ scopes: ['files:read'], status: 'active' });

  expect(await inNewSession((page) => consent(page, agent, 'openid files:read files:write', ['files:read', 'files:write']))).toEqual(['files:read', 'files:write']);
  const after = await approvalsOf(agent.id);
  expect(after).toHaveLength(1);
  expect(after[0]).toMatchObject({ id: first!.id, status: 'active', resources: [API] });
  expect([...after[0]!.scopes].sort()).toEqual(['files:read', 'files:write']);
  expect(after[0]!.expiresAt.getTime()).toBeGreaterThanOrEqual(first!.expiresAt.getTime());
}, 90_000);

it('a once-only consent to an approval-only scope is in neither the approvals table nor /approvals', async () => {
  const agent = await newAgent();
  await inNewSession(async (page) => {
    expect(await consent(page, agent, 'openid files:read files:delete', ['files:read', 'files:delete'])).toEqual(['files:delete', 'files:read']);
    const rows = await approvalsOf(agent.id);
    expect(rows.map((r) => r.scopes)).toEqual([['files:read']]);
    const shown = await standingOnApprovalsPage(page, agent.name);
    expect(shown).toContain('files:read');
    expect(shown).not.toContain('files:delete');
  });
}, 90_000);

it('a CIBA step-up approved on /approvals is in neither the approvals table nor shown as standing there', async () => {
  const agent = await newAgent();
  await inNewSession(async (page) => {
    // A standing approval first, which the CIBA answer would extend if it held anything but the step-up scope.
    await consent(page, agent, 'openid files:read', ['files:read']);
    const asked = await postForm(server, '/backchannel', agent, { login_hint: alice.username, scope: 'openid files:read files:delete', resource: API, binding_message: 'Delete old-report.pdf' });
    expect(asked.status).toBe(200);
    await page.goto(`${server.issuer}/approvals`);
    await page.getByRole('heading', { level: 1, name: 'Your approvals' }).waitFor();
    const request = page.getByRole('listitem', { name: `Request from ${agent.name}` });
    expect(await request.innerText()).toContain('this once only');
    await request.getByRole('button', { name: `Approve request from ${agent.name}` }).click();
    await page.getByRole('heading', { level: 1, name: 'Your approvals' }).waitFor();

    const polled = await postForm(server, '/token', agent, { grant_type: CIBA_GRANT, auth_req_id: String(asked.body.auth_req_id) });
    expect(polled.status).toBe(200);
    const { payload } = await jwtVerify(String(polled.body.access_token), jwks, { issuer: server.issuer, audience: API, typ: 'at+jwt' });
    expect(String(payload.scope).split(' ').sort()).toEqual(['files:delete', 'files:read']);

    const rows = await approvalsOf(agent.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.scopes).toEqual(['files:read']);
    const shown = await standingOnApprovalsPage(page, agent.name);
    expect(shown).toContain('files:read');
    expect(shown).not.toContain('files:delete');
  });
}, 90_000);
