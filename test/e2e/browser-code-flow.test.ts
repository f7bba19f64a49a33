// The authorization code flow as a person sees it: a real Chromium drives the login and consent pages, a real
// OAuth client (openid-client) builds the request and redeems the code. Proves the pages work in a browser under
// their content security policy (no scripts, forms only to us and to the client), and what the tokens say.
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';

const API = 'https://files.example.test';
const ARTIFACTS = path.resolve(import.meta.dirname, '..', '..', 'test-artifacts');
const alice = { username: 'alice', password: 'correct horse battery staple', displayName: 'Alice Example' };

let server: TestServer;
let browser: Browser;
let callback: { url: string; close(): Promise<void> };
let app: { clientId: string; clientSecret?: string };
let userId: string;

/** The client's redirect URI: a tiny page on loopback that just says it was reached. */
async function startCallbackServer(): Promise<{ url: string; close(): Promise<void> }> {
  const httpServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('callback reached'));
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/cb`, close: () => new Promise((resolve) => httpServer.close(() => resolve())) };
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  [server, browser, callback] = await Promise.all([startTestServer(), launchChromium(), startCallbackServer()]);
  await server.stores.resources.create({
    identifier: API,
    name: 'Files API',
    scopes: [
      { name: 'files:read', description: 'Read your files' },
      { name: 'files:write', description: 'Change your files' },
    ],
  });
  app = await server.stores.clients.createApp({
    name: 'Photo Printer',
    redirectUris: [callback.url],
    postLogoutRedirectUris: [],
    grantTypes: ['authorization_code', 'refresh_token'],
    authMethod: 'client_secret_basic',
    resources: [API],
    scopes: ['files:read', 'files:write'],
  });
  userId = (await server.stores.users.create(alice)).id;
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await callback?.close();
  await server?.stop();
});

async function configuration(): Promise<client.Configuration> {
  return client.discovery(new URL(server.issuer), app.clientId, undefined, client.ClientSecretBasic(app.clientSecret!), {
    execute: [client.allowInsecureRequests],
  });
}

/** A fresh authorization request (PKCE S256, state) for the Files API with offline access. */
async function authorizationRequest(config: client.Configuration) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: callback.url,
    scope: 'openid offline_access files:read',
    resource: API,
    prompt: 'consent',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  return { url, verifier, state };
}

/** Navigates, and resolves with the URL the browser lands on at the client's callback. */
function landingAtCallback(page: Page): Promise<URL> {
  return page.waitForURL((url) => url.href.startsWith(callback.url), { waitUntil: 'commit' }).then(() => new URL(page.url()));
}

async function signIn(page: Page, credentials = alice): Promise<void> {
  await page.getByLabel('Username').fill(credentials.username);
  await page.getByLabel('Password').fill(credentials.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function withContext<T>(work: (page: Page, context: BrowserContext) => Promise<T>): Promise<T> {
  const context = await browser.newContext();
  const violations: string[] = [];
  const page = await context.newPage();
  // A CSP violation would mean a page depends on something its policy forbids.
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

it('signs a human in, asks for consent, and issues RFC 9068 tokens for the resource with rotating refresh tokens', async () => {
  const config = await configuration();
  const request = await authorizationRequest(config);

  const callbackUrl = await withContext(async (page) => {
    await page.goto(request.url.href);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    await expect(page.getByText('Photo Printer').count()).resolves.toBe(1);
    await page.screenshot({ path: path.join(ARTIFACTS, 'login.png'), fullPage: true });

    await signIn(page);
    await page.getByRole('heading', { level: 1, name: 'Allow access?' }).waitFor();
    const consent = await page.locator('main').innerText();
    expect(consent).toContain('Photo Printer');
    expect(consent).toContain('Files API');
    expect(consent).toContain('Read your files');
    expect(consent).not.toContain('Change your files');
    expect(consent).toContain('Keep this access while you are not using the application');
    await page.screenshot({ path: path.join(ARTIFACTS, 'consent.png'), fullPage: true });

    const landed = landingAtCallback(page);
    await page.getByRole('button', { name: 'Allow' }).click();
    return landed;
  });

  // RFC 9207: the authorization response names the issuer.
  expect(callbackUrl.searchParams.get('iss')).toBe(server.issuer);
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: request.verifier, expectedState: request.state });

  expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ typ: 'at+jwt' });
  const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: server.issuer, audience: API, typ: 'at+jwt' });
  expect(payload).toMatchObject({ sub: userId, sub_profile: 'user', client_id: app.clientId, scope: 'files:read' });
  expect(tokens.claims()?.sub).toBe(userId);
  const firstRefresh = tokens.refresh_token!;
  expect(firstRefresh).toBeTruthy();

  const refreshed = await client.refreshTokenGrant(config, firstRefresh, { resource: API });
  expect(refreshed.refresh_token).toBeTruthy();
  expect(refreshed.refresh_token).not.toBe(firstRefresh);
  const { payload: again } = await jwtVerify(refreshed.access_token, jwks, { issuer: server.issuer, audience: API });
  expect(again).toMatchObject({ sub: userId, sub_profile: 'user' });

  // Reuse of a rotated refresh token means it leaked: the whole grant is revoked, the rotated token with it.
  await expect(client.refreshTokenGrant(config, firstRefresh, { resource: API })).rejects.toMatchObject({ error: 'invalid_grant' });
  await expect(client.refreshTokenGrant(config, refreshed.refresh_token!, { resource: API })).rejects.toMatchObject({ error: 'invalid_grant' });

  const audit = await server.db.prisma.auditEvent.findMany({ where: { action: { in: ['login.succeeded', 'consent.granted'] } }, orderBy: { seq: 'asc' } });
  expect(audit.map((e) => e.action)).toEqual(['login.succeeded', 'consent.granted']);
  expect(audit[0]).toMatchObject({ actorKind: 'human', actorId: userId, userId, clientId: app.clientId, ip: '127.0.0.1' });
  expect(audit[0]!.requestId).toBeTruthy();
}, 60_000);

it('returns access_denied to the client when the human denies consent', async () => {
  const config = await configuration();
  const request = await authorizationRequest(config);

  const callbackUrl = await withContext(async (page) => {
    await page.goto(request.url.href);
    await signIn(page);
    await page.getByRole('heading', { level: 1, name: 'Allow access?' }).waitFor();
    const landed = landingAtCallback(page);
    await page.getByRole('button', { name: 'Deny' }).click();
    return landed;
  });

  expect(callbackUrl.searchParams.get('error')).toBe('access_denied');
  expect(callbackUrl.searchParams.get('error_description')).toBe('the user denied the request');
  expect(callbackUrl.searchParams.get('state')).toBe(request.state);
  expect(callbackUrl.searchParams.get('iss')).toBe(server.issuer);
  expect(callbackUrl.searchParams.has('code')).toBe(false);
  await expect(
    client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: request.verifier, expectedState: request.state }),
  ).rejects.toMatchObject({ error: 'access_denied' });
}, 60_000);

it('returns access_denied when the human cancels at the login page', async () => {
  const config = await configuration();
  const request = await authorizationRequest(config);
  const callbackUrl = await withContext(async (page) => {
    await page.goto(request.url.href);
    const landed = landingAtCallback(page);
    await page.getByRole('button', { name: 'Cancel' }).click();
    return landed;
  });
  expect(callbackUrl.searchParams.get('error')).toBe('access_denied');
}, 60_000);

it('shows a wrong password on the login page and lets the human try again', async () => {
  const config = await configuration();
  const request = await authorizationRequest(config);
  await withContext(async (page) => {
    await page.goto(request.url.href);
    await signIn(page, { ...alice, password: 'not the password at all' });
    await expect(page.getByRole('alert').innerText()).resolves.toBe('Invalid username or password.');
    expect(await page.getByLabel('Username').inputValue()).toBe('alice');
    await page.getByLabel('Password').fill(alice.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Allow access?' }).waitFor();
  });
}, 60_000);

it('signs the human out through end_session with our pages', async () => {
  const config = await configuration();
  const request = await authorizationRequest(config);
  await withContext(async (page, context) => {
    await page.goto(request.url.href);
    await signIn(page);
    await page.getByRole('heading', { level: 1, name: 'Allow access?' }).waitFor();
    expect((await context.cookies()).some((c) => c.name === '_session')).toBe(true);

    await page.goto(`${server.issuer}/session/end`);
    await page.getByRole('heading', { level: 1, name: 'Sign out?' }).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'logout.png'), fullPage: true });
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.getByRole('heading', { level: 1, name: 'You are signed out' }).waitFor();
    expect((await context.cookies()).some((c) => c.name === '_session')).toBe(false);

    // Without a session, oidc-provider's own self-submitting form (its inline script allowed by hash) ends it too.
    await page.goto(`${server.issuer}/session/end`);
    await page.getByRole('heading', { level: 1, name: 'You are signed out' }).waitFor();
  });
}, 60_000);
