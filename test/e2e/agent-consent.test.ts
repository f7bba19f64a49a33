// Agent-aware consent and the human's /approvals page, driven by a real Chromium against a real server: an AI agent
// runs the authorization code flow (openid-client), the human reads who is asking, approves fewer scopes and a
// shorter duration, and later withdraws or blocks it. What the tokens and the database say is checked afterwards.
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { formToken, HttpBrowser, launchChromium } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';

const API = 'https://files.example.test';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const ARTIFACTS = path.resolve(import.meta.dirname, '..', '..', 'test-artifacts');
const alice = { username: 'alice', password: 'correct horse battery staple', displayName: 'Alice Example' };

let server: TestServer;
let browser: Browser;
let callback: { url: string; close(): Promise<void> };
let aliceId: string;
let jwks: ReturnType<typeof createRemoteJWKSet>;

type TestAgent = { id: string; secret: string; name: string };

async function startCallbackServer(): Promise<{ url: string; close(): Promise<void> }> {
  const httpServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('callback reached'));
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/cb`, close: () => new Promise((resolve) => httpServer.close(() => resolve())) };
}

let agentCount = 0;
/** A fresh agent per test, so approvals and blocks of one test never leak into another. */
async function newAgent(): Promise<TestAgent> {
  agentCount += 1;
  const name = `Research Assistant ${agentCount}`;
  const owner = await server.stores.users.create({ username: `owner${agentCount}`, password: 'owner password is long enough', displayName: `Olivia Owner ${agentCount}` });
  const { agent, clientSecret } = await server.stores.agents.create({
    name,
    description: 'Summarises the documents in your files',
    ownerUserId: owner.id,
    scopes: ['openid', 'offline_access', 'files:read', 'files:write'],
    audiences: [API],
    tokenEndpointAuthMethod: 'client_secret_basic',
    redirectUris: [callback.url],
  });
  return { id: agent.id, secret: clientSecret!, name };
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  [server, browser, callback] = await Promise.all([startTestServer(), launchChromium(), startCallbackServer()]);
  jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  await server.stores.resources.create({
    identifier: API,
    name: 'Files API',
    scopes: [
      { name: 'files:read', description: 'Read your files' },
      { name: 'files:write', description: 'Change your files' },
    ],
  });
  aliceId = (await server.stores.users.create(alice)).id;
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await callback?.close();
  await server?.stop();
});

const configFor = (agent: TestAgent) =>
  client.discovery(new URL(server.issuer), agent.id, undefined, client.ClientSecretBasic(agent.secret), { execute: [client.allowInsecureRequests] });

async function authorizationRequest(config: client.Configuration, scope: string, extra: Record<string, string> = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: callback.url,
    scope,
    resource: API,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...extra,
  });
  return { url, verifier, state };
}

function landingAtCallback(page: Page): Promise<URL> {
  return page.waitForURL((url) => url.href.startsWith(callback.url), { waitUntil: 'commit' }).then(() => new URL(page.url()));
}

async function signIn(page: Page): Promise<void> {
  await page.getByLabel('Username').fill(alice.username);
  await page.getByLabel('Password').fill(alice.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function withContext<T>(work: (page: Page, context: BrowserContext) => Promise<T>): Promise<T> {
  const context = await browser.newContext();
  const violations: string[] = [];
  const page = await context.newPage();
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  try {
    const result = await work(page, context);
    expect(violations).toEqual([]);
    return result;
  } finally {
    await context.close();
  }
}

const claims = async (token: string) => (await jwtVerify(token, jwks, { issuer: server.issuer, audience: API, typ: 'at+jwt' })).payload as JWTPayload & Record<string, unknown>;

/** Signs in, approves only files:read for one day, and redeems the code: the agent's tokens. */
async function approveReadOnly(agent: TestAgent, page: Page, screenshot?: string) {
  const config = await configFor(agent);
  // oidc-provider keeps offline_access (a refresh token) only when consent is explicitly prompted for.
  const request = await authorizationRequest(config, 'openid offline_access files:read files:write', { prompt: 'consent' });
  await page.goto(request.url.href);
  await signIn(page);
  await page.getByRole('heading', { level: 1, name: 'Allow an AI agent to act for you?' }).waitFor();
  if (screenshot) await page.screenshot({ path: path.join(ARTIFACTS, screenshot), fullPage: true });
  await page.getByLabel('Change your files').uncheck();
  await page.getByLabel('For how long').selectOption({ label: '1 day' });
  const landed = landingAtCallback(page);
  await page.getByRole('button', { name: 'Allow' }).click();
  const callbackUrl = await landed;
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: request.verifier, expectedState: request.state });
  return { config, tokens };
}

describe('agent-aware consent', () => {
  it('names the AI agent, its owner and what it asks; approving fewer scopes gives a token with exactly those and act', async () => {
    const agent = await newAgent();
    await withContext(async (page) => {
      const config = await configFor(agent);
      const request = await authorizationRequest(config, 'openid offline_access files:read files:write');
      await page.goto(request.url.href);
      await signIn(page);
      await page.getByRole('heading', { level: 1, name: 'Allow an AI agent to act for you?' }).waitFor();
      const text = await page.locator('main').innerText();
      expect(text).toContain('AI agent');
      expect(text).toContain(agent.name);
      expect(text).toContain(`Olivia Owner ${agentCount}`);
      expect(text).toContain('Summarises the documents in your files');
      expect(text).toContain('Files API');
      expect(text).toContain(API);
      expect(text).toContain('Read your files');
      expect(text).toContain('Change your files');
      expect(await page.getByLabel('For how long').inputValue()).toBe(String(server.config.approvals.defaultDays * 86_400));
      await page.screenshot({ path: path.join(ARTIFACTS, 'agent-consent.png'), fullPage: true });

      await page.getByLabel('Change your files').uncheck();
      await page.getByLabel('For how long').selectOption({ label: '1 day' });
      const landed = landingAtCallback(page);
      await page.getByRole('button', { name: 'Allow' }).click();
      const callbackUrl = await landed;
      const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: request.verifier, expectedState: request.state });

      const payload = await claims(tokens.access_token);
      expect(payload).toMatchObject({ sub: aliceId, sub_profile: 'user', client_id: agent.id, scope: 'files:read' });
      expect(payload.act).toMatchObject({ sub: agent.id });

      // The stored approval (what token exchange consults) says the same, for the chosen duration, linked to the Grant.
      const approvals = await server.db.prisma.approval.findMany({ where: { agentId: agent.id } });
      expect(approvals).toHaveLength(1);
      expect(approvals[0]).toMatchObject({ userId: aliceId, scopes: ['files:read'], resources: [API], grantedVia: 'consent', status: 'active' });
      expect(approvals[0]!.grantId).toBeTruthy();
      expect(Math.abs(approvals[0]!.expiresAt.getTime() - Date.now() - 86_400_000)).toBeLessThan(60_000);
      const record = await server.db.prisma.issuedToken.findUnique({ where: { jti: String(payload.jti) } });
      expect(record).toMatchObject({ approvalId: approvals[0]!.id, subject: aliceId });

      // The same request again is covered: no consent page. A scope not covered asks again.
      const again = await authorizationRequest(config, 'openid files:read');
      const reused = landingAtCallback(page);
      await page.goto(again.url.href);
      expect((await reused).searchParams.get('code')).toBeTruthy();
      const wider = await authorizationRequest(config, 'openid files:read files:write');
      await page.goto(wider.url.href);
      await page.getByRole('heading', { level: 1, name: 'Allow an AI agent to act for you?' }).waitFor();
    });
  }, 90_000);

  it('returns access_denied to the agent when the human denies, and stores no approval', async () => {
    const agent = await newAgent();
    const config = await configFor(agent);
    const request = await authorizationRequest(config, 'openid files:read');
    const callbackUrl = await withContext(async (page) => {
      await page.goto(request.url.href);
      await signIn(page);
      await page.getByRole('heading', { level: 1, name: 'Allow an AI agent to act for you?' }).waitFor();
      const landed = landingAtCallback(page);
      await page.getByRole('button', { name: 'Deny' }).click();
      return landed;
    });
    expect(callbackUrl.searchParams.get('error')).toBe('access_denied');
    expect(callbackUrl.searchParams.has('code')).toBe(false);
    expect(await server.db.prisma.approval.count({ where: { agentId: agent.id } })).toBe(0);
  }, 60_000);

  it('refuses a consent POST without its CSRF token', async () => {
    const agent = await newAgent();
    const config = await configFor(agent);
    const request = await authorizationRequest(config, 'openid files:read');
    const http = new HttpBrowser(server.url);
    const login = await http.follow(await http.get(request.url.href.replace(server.issuer, server.url)));
    const loginHtml = await login.response.text();
    const loginAction = /action="([^"]+\/login)"/.exec(loginHtml)![1]!;
    const signedIn = await http.post(loginAction, { csrf: formToken(loginHtml, loginAction), username: alice.username, password: alice.password });
    const consent = await http.follow(signedIn);
    const html = await consent.response.text();
    expect(html).toContain('AI agent');
    const confirmAction = /action="([^"]+\/confirm)"/.exec(html)![1]!;
    const refused = await http.post(confirmAction, { 'scope.0.0': 'on', duration: '86400' });
    expect(refused.status).toBe(403);
    expect(await server.db.prisma.approval.count({ where: { agentId: agent.id } })).toBe(0);
  }, 60_000);
});


const exchangeFor = async (agent: TestAgent, subjectToken: string) =>
  client.genericGrantRequest(await configFor(agent), EXCHANGE, { subject_token: subjectToken, subject_token_type: AT, resource: API, scope: 'files:read' });

async function openApprovals(page: Page) {
  await page.goto(`${server.issuer}/approvals`);
  await page.getByRole('heading', { level: 1, name: 'Your approvals' }).waitFor();
}

describe('/approvals', () => {
  it('lists the delegation; withdrawing it makes the agent\'s next exchange and refresh fail', async () => {
    const agent = await newAgent();
    await withContext(async (page) => {
      const { config, tokens } = await approveReadOnly(agent, page);
      expect(tokens.refresh_token).toBeTruthy();
      // Before: the code-flow token is a valid subject token for the agent's own exchange.
      const exchanged = await exchangeFor(agent, tokens.access_token);
      expect(exchanged.scope).toBe('files:read');

      await openApprovals(page);
      const entry = page.getByRole('listitem', { name: agent.name });
      const text = await entry.innerText();
      expect(text).toContain('files:read');
      expect(text).toContain(API);
      expect(text).toContain('AI agent');
      await page.screenshot({ path: path.join(ARTIFACTS, 'approvals.png'), fullPage: true });
      await entry.getByRole('button', { name: 'Withdraw' }).click();
      await page.getByRole('heading', { level: 1, name: 'Your approvals' }).waitFor();
      await expect(page.getByRole('listitem', { name: agent.name }).count()).resolves.toBe(0);

      await expect(exchangeFor(agent, tokens.access_token)).rejects.toMatchObject({ error: 'invalid_grant' });
      await expect(client.refreshTokenGrant(config, tokens.refresh_token!, { resource: API })).rejects.toMatchObject({ error: 'invalid_grant' });
      const approval = await server.db.prisma.approval.findFirstOrThrow({ where: { agentId: agent.id } });
      expect(approval).toMatchObject({ status: 'revoked', revokedReason: 'withdrawn by the human' });
      const live = await server.db.prisma.issuedToken.count({ where: { clientId: agent.id, revokedAt: null, expiresAt: { gt: new Date() } } });
      expect(live).toBe(0);
    });
  }, 90_000);

  it('blocks an agent: its delegations end and it is refused at once until unblocked', async () => {
    const agent = await newAgent();
    await withContext(async (page) => {
      const { config } = await approveReadOnly(agent, page);
      await openApprovals(page);
      await page.getByRole('button', { name: `Block ${agent.name} from asking again` }).click();
      await page.getByRole('heading', { level: 2, name: 'Blocked agents' }).waitFor();
      expect(await server.db.prisma.approval.count({ where: { agentId: agent.id, status: 'active' } })).toBe(0);

      const request = await authorizationRequest(config, 'openid files:read');
      const landed = landingAtCallback(page);
      await page.goto(request.url.href);
      const refused = await landed;
      expect(refused.searchParams.get('error')).toBe('access_denied');
      expect(refused.searchParams.get('error_description')).toBe('the user has blocked this agent');

      await openApprovals(page);
      await page.getByRole('button', { name: `Unblock ${agent.name}` }).click();
      await page.getByRole('heading', { level: 1, name: 'Your approvals' }).waitFor();
      const again = await authorizationRequest(config, 'openid files:read');
      await page.goto(again.url.href);
      await page.getByRole('heading', { level: 1, name: 'Allow an AI agent to act for you?' }).waitFor();
    });
  }, 90_000);

  it('signs the human in on the page itself; refuses a withdraw without its CSRF token and another human\'s approval', async () => {
    const agent = await newAgent();
    const mine = await server.stores.approvals.create({ userId: aliceId, agentId: agent.id, scopes: ['files:read'], resources: [API], grantedVia: 'admin' });
    const bob = await server.stores.users.create({ username: `bob${agentCount}`, password: 'bob has a long password too' });
    const theirs = await server.stores.approvals.create({ userId: bob.id, agentId: agent.id, scopes: ['files:read'], resources: [API], grantedVia: 'admin' });

    const http = new HttpBrowser(server.url);
    const signInPage = await http.get('/approvals');
    expect(signInPage.status).toBe(200);
    const signInHtml = await signInPage.text();
    expect(signInHtml).toContain('Sign in');
    const signedIn = await http.post('/approvals/login', { csrf: formToken(signInHtml, '/approvals/login'), username: alice.username, password: alice.password });
    expect(signedIn.status).toBe(303);
    const html = await (await http.get('/approvals')).text();
    expect(html).toContain(agent.name);

    const withdraw = `/approvals/${mine.id}/withdraw`;
    expect((await http.post(withdraw, {})).status).toBe(403);
    expect((await http.post(withdraw, { csrf: 'x'.repeat(43) })).status).toBe(403);
    expect((await server.stores.approvals.get(mine.id)).status).toBe('active');

    // A token minted for one form is worthless for another, and another human's approval is not found.
    expect((await http.post(`/approvals/${theirs.id}/withdraw`, { csrf: formToken(html, withdraw) })).status).toBe(403);
    expect((await http.post(withdraw, { csrf: formToken(html, withdraw) })).status).toBe(303);
    expect((await server.stores.approvals.get(mine.id)).status).toBe('revoked');
    expect((await server.stores.approvals.get(theirs.id)).status).toBe('active');
    const csrfAudit = await server.db.prisma.auditEvent.count({ where: { action: 'csrf.rejected', details: { path: ['path'], equals: withdraw } } });
    expect(csrfAudit).toBeGreaterThanOrEqual(2);
  }, 60_000);
});

describe('/approvals with a waiting backchannel (CIBA) request', () => {
  it('shows the agent, its owner and the binding message; the human approves in the browser', async () => {
    const agent = await newAgent();
    const basic = `Basic ${Buffer.from(`${agent.id}:${encodeURIComponent(agent.secret)}`).toString('base64')}`;
    const asked = await fetch(`${server.issuer}/backchannel`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
      body: new URLSearchParams({ scope: 'openid files:read files:write', resource: API, login_hint: alice.username, binding_message: 'Summarise Q3 report, code 4711' }).toString(),
    });
    expect(asked.status).toBe(200);
    const { auth_req_id: id } = (await asked.json()) as { auth_req_id: string };

    await withContext(async (page) => {
      await page.goto(`${server.issuer}/approvals`);
      await signIn(page);
      await page.getByRole('heading', { level: 1, name: 'Your approvals' }).waitFor();
      const request = page.getByRole('listitem', { name: `Request from ${agent.name}` });
      const text = await request.innerText();
      expect(text).toContain('AI agent');
      expect(text).toContain(`Olivia Owner ${agentCount}`);
      expect(text).toContain('Summarise Q3 report, code 4711');
      await page.screenshot({ path: path.join(ARTIFACTS, 'approvals-pending.png'), fullPage: true });
      await request.getByLabel('Change your files').uncheck();
      await request.getByRole('button', { name: `Approve request from ${agent.name}` }).click();
      await page.getByRole('heading', { level: 1, name: 'Your approvals' }).waitFor();
      await expect(page.getByRole('listitem', { name: `Request from ${agent.name}` }).count()).resolves.toBe(0);
    });

    const polled = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
      body: new URLSearchParams({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: id }).toString(),
    });
    const body = (await polled.json()) as { access_token: string };
    expect(await claims(body.access_token)).toMatchObject({ sub: aliceId, scope: 'files:read', act: { sub: agent.id } });
  }, 60_000);
});
