// Step-up for risky scopes (requires_approval): never covered by a standing approval, a refresh token or a further
// exchange; one fresh human approval (CIBA) yields one token carrying the scope, and that token lives briefly.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Browser } from 'playwright-core';
import { storedRequestId } from '../support/ciba.js';
import { formToken, HttpBrowser, launchChromium } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintHumanToken } from '../support/tokens.js';

const API = 'https://files.example.test';
const CIBA = 'urn:openid:params:grant-type:ciba';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const alice = { username: 'alice', password: 'correct horse battery staple' };

let server: TestServer;
let browser: Browser;
let callback: { url: string; close(): Promise<void> };
let aliceId: string;
let jwks: ReturnType<typeof createRemoteJWKSet>;
type TestAgent = { id: string; secret: string };

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

async function newAgent(): Promise<TestAgent> {
  const { agent, clientSecret } = await server.stores.agents.create({
    name: 'Cleanup Agent',
    description: 'Tidies your files',
    ownerUserId: aliceId,
    scopes: ['openid', 'offline_access', 'files:read', 'files:delete'],
    audiences: [API],
    maxTokenTtl: 600,
    tokenEndpointAuthMethod: 'client_secret_basic',
    redirectUris: [callback.url],
  });
  return { id: agent.id, secret: clientSecret! };
}

const configFor = (agent: TestAgent) =>
  client.discovery(new URL(server.issuer), agent.id, undefined, client.ClientSecretBasic(agent.secret), { execute: [client.allowInsecureRequests] });

async function post(agent: TestAgent, endpoint: string, fields: Record<string, string>) {
  const response = await fetch(`${server.issuer}${endpoint}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${agent.id}:${encodeURIComponent(agent.secret)}`).toString('base64')}` },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const claims = async (token: string) => (await jwtVerify(token, jwks, { issuer: server.issuer, audience: API, typ: 'at+jwt' })).payload as JWTPayload & Record<string, unknown>;

it('a standing approval never yields a requires_approval scope through token exchange', async () => {
  const agent = await newAgent();
  // A standing approval cannot even hold it...
  await expect(server.stores.approvals.create({ userId: aliceId, agentId: agent.id, scopes: ['files:read', 'files:delete'], resources: [API], grantedVia: 'admin' })).rejects.toThrow('not valid');
  await server.stores.approvals.create({ userId: aliceId, agentId: agent.id, scopes: ['files:read'], resources: [API], grantedVia: 'admin' });
  const subject = await mintHumanToken(server, { userId: aliceId, clientId: agent.id, resource: API, scopes: ['files:read', 'files:delete'] });
  const refused = await post(agent, '/token', { grant_type: EXCHANGE, subject_token: subject, subject_token_type: AT, resource: API, scope: 'files:delete' });
  expect(refused.body.error).toBe('invalid_scope');
  expect(String(refused.body.error_description)).toContain('fresh approval');
  const allowed = await post(agent, '/token', { grant_type: EXCHANGE, subject_token: subject, subject_token_type: AT, resource: API });
  expect(allowed.status).toBe(200);
  expect(String(allowed.body.scope).split(' ')).not.toContain('files:delete');
}, 60_000);

/** Runs the code flow in a fresh browser; `tick` decides whether the human also ticks the step-up scope. */
async function consentFlow(agent: TestAgent, tick: boolean) {
  const config = await configFor(agent);
  const authorize = async () => {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callback.url,
      scope: 'openid offline_access files:read files:delete',
      resource: API,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { verifier, url };
  };
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const first = await authorize();
    // prompt=consent: oidc-provider keeps offline_access (a refresh token) only when consent was explicitly asked for.
    first.url.searchParams.set('prompt', 'consent');
    await page.goto(first.url.href);
    await page.getByLabel('Username').fill(alice.username);
    await page.getByLabel('Password').fill(alice.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Allow an AI agent to act for you?' }).waitFor();
    // Offered for this once only, never ticked for the human.
    expect(await page.getByLabel('Delete your files').isChecked()).toBe(false);
    expect(await page.locator('main').innerText()).toContain('must ask you again each time');
    if (tick) await page.getByLabel('Delete your files').check();
    const landed = page.waitForURL((u) => u.href.startsWith(callback.url), { waitUntil: 'commit' });
    await page.getByRole('button', { name: 'Allow' }).click();
    await landed;
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: first.verifier });

    // The same request again, in the same browser: only the step-up scope (if spent) makes the human be asked again.
    const second = await authorize();
    const outcome = page.waitForURL((u) => u.href.startsWith(callback.url) || u.pathname.includes('/interaction/'), { waitUntil: 'commit' });
    await page.goto(second.url.href);
    await outcome;
    const askedAgain = page.url().includes('/interaction/');
    return { config, tokens, askedAgain };
  } finally {
    await context.close();
  }
}

it('consent without the step-up scope: neither the code-flow token nor its refresh carries it', async () => {
  const agent = await newAgent();
  const { config, tokens } = await consentFlow(agent, false);
  expect((await claims(tokens.access_token)).scope).toBe('files:read');
  expect(tokens.refresh_token).toBeTruthy();
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!, { resource: API, scope: 'files:read files:delete' }).catch((e: unknown) => e);
  // Either refused outright or narrowed: never files:delete.
  if (refreshed instanceof Error) expect(refreshed).toMatchObject({ error: 'invalid_scope' });
  else expect((await claims((refreshed as client.TokenEndpointResponse).access_token)).scope).toBe('files:read');
  const approval = await server.db.prisma.approval.findFirstOrThrow({ where: { agentId: agent.id } });
  expect(approval.scopes).toEqual(['files:read']);
}, 60_000);

it('a fresh consent for the step-up scope yields it once: one short-lived token, no refresh token, asked again next time', async () => {
  const agent = await newAgent();
  const { tokens, askedAgain } = await consentFlow(agent, true);
  const token = await claims(tokens.access_token);
  expect(token.scope).toBe('files:read files:delete');
  expect(token.exp! - token.iat!).toBeLessThanOrEqual(60);
  expect(token.act).toMatchObject({ sub: agent.id });
  expect(tokens.refresh_token).toBeUndefined();
  expect(askedAgain).toBe(true);
  // The standing approval never holds it; the audit names the human who approved it.
  const approval = await server.db.prisma.approval.findFirstOrThrow({ where: { agentId: agent.id } });
  expect(approval.scopes).toEqual(['files:read']);
  // The Grant forgot it once the token was issued (else the next authorization would yield it silently).
  const grant = await server.provider.current.Grant.find(approval.grantId!);
  expect(grant?.getResourceScope(API)).toBe('files:read');
  const audit = await server.db.prisma.auditEvent.findFirstOrThrow({ where: { action: 'consent.granted', agentId: agent.id } });
  expect(audit).toMatchObject({ actorKind: 'human', actorId: aliceId });
  expect(audit.details).toMatchObject({ granted: { [API]: ['files:read', 'files:delete'] } });
}, 60_000);

it('a fresh CIBA approval yields the scope once, in a token that lives at most 60 seconds; the audit names the approver', async () => {
  const agent = await newAgent();
  const asked = await post(agent, '/backchannel', { scope: 'openid files:delete', resource: API, login_hint: 'alice', binding_message: 'Delete old-report.pdf' });
  expect(asked.status).toBe(200);
  const id = String(asked.body.auth_req_id);

  const human = new HttpBrowser(server.url);
  const signIn = await (await human.get('/approvals')).text();
  await human.post('/approvals/login', { csrf: formToken(signIn, '/approvals/login'), ...alice });
  const html = await (await human.get('/approvals')).text();
  expect(html).toContain('Delete old-report.pdf');
  expect(html).toContain('this once only');
  const approve = `/approvals/requests/${storedRequestId(server, id)}/approve`;
  expect((await human.post(approve, { csrf: formToken(html, approve), 'scope.0': 'on' })).status).toBe(303);

  const issued = await post(agent, '/token', { grant_type: CIBA, auth_req_id: id });
  expect(issued.status).toBe(200);
  expect(issued.body.expires_in).toBeLessThanOrEqual(60);
  expect(issued.body.refresh_token).toBeUndefined();
  const token = await claims(String(issued.body.access_token));
  expect(token.scope).toBe('files:delete');
  expect(token.exp! - token.iat!).toBeLessThanOrEqual(60);
  expect(token.act).toMatchObject({ sub: agent.id });

  // Once: the approval is spent with its request, and no exchange carries the scope further.
  expect((await post(agent, '/token', { grant_type: CIBA, auth_req_id: id })).body.error).toBe('invalid_grant');
  const further = await post(agent, '/token', { grant_type: EXCHANGE, subject_token: String(issued.body.access_token), subject_token_type: AT, resource: API, scope: 'files:delete' });
  expect(further.status).toBe(400);

  const audit = await server.db.prisma.auditEvent.findFirstOrThrow({ where: { action: 'ciba.approved', agentId: agent.id } });
  expect(audit).toMatchObject({ actorKind: 'human', actorId: aliceId });
  expect(audit.details).toMatchObject({ step_up: ['files:delete'] });
}, 60_000);
