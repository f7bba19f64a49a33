// Drives the authorization code flow's interaction pages over plain HTTP (no browser): starts a sign-in, reads
// the rendered forms, posts them. Shared by the page, CSRF and login-throttle tests.
import { formToken, HttpBrowser, pkce } from '../support/browser.js';
import type { TestServer } from '../support/server.js';

export const REDIRECT_URI = 'http://127.0.0.1:9/cb';
export const API = 'https://files.example.test';

export type App = { clientId: string; clientSecret?: string };

/** A resource server with described scopes and an app allowed the code flow. */
export async function registerApp(server: TestServer): Promise<App> {
  if (!(await server.stores.resources.findByIdentifier(API))) {
    await server.stores.resources.create({
      identifier: API,
      name: 'Files API',
      scopes: [
        { name: 'files:read', description: 'Read your files' },
        { name: 'files:write', description: 'Change your files' },
      ],
    });
  }
  return server.stores.clients.createApp({
    name: 'Photo Printer',
    redirectUris: [REDIRECT_URI],
    grantTypes: ['authorization_code', 'refresh_token'],
    authMethod: 'client_secret_basic',
    resources: [API],
    scopes: ['files:read', 'files:write'],
  });
}

export type SignIn = { browser: HttpBrowser; uid: string; html: string; page: Response };

/** Starts an authorization request and loads the interaction page it leads to. */
export async function startSignIn(
  server: TestServer,
  app: App,
  options: { scope?: string; resource?: string; prompt?: string; headers?: Record<string, string>; browser?: HttpBrowser } = {},
): Promise<SignIn> {
  const browser = options.browser ?? new HttpBrowser(server.issuer);
  const { challenge } = pkce();
  const params = new URLSearchParams({
    client_id: app.clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: options.scope ?? 'openid files:read',
    resource: options.resource ?? API,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'xyz',
    ...(options.prompt ? { prompt: options.prompt } : {}),
  });
  const authorization = await browser.get(`${server.issuer}/auth?${params}`, options.headers);
  if (authorization.status !== 303) throw new Error(`authorization answered ${authorization.status}: ${await authorization.text()}`);
  const location = new URL(authorization.headers.get('location')!, server.issuer);
  const uid = /\/interaction\/([^/]+)$/.exec(location.pathname)![1]!;
  const page = await browser.get(location.href, options.headers);
  return { browser, uid, page, html: await page.clone().text() };
}

export async function loadInteraction(browser: HttpBrowser, server: TestServer, uid: string): Promise<{ page: Response; html: string }> {
  const page = await browser.get(`${server.issuer}/interaction/${uid}`);
  return { page, html: await page.text() };
}

const path = (server: TestServer, uid: string, action: string) => `${new URL(server.issuer).pathname.replace(/\/$/, '')}/interaction/${uid}/${action}`;

/** Posts the login form of a rendered login page. */
export function submitLogin(
  server: TestServer,
  signIn: Pick<SignIn, 'browser' | 'uid' | 'html'>,
  credentials: { username: string; password: string },
  headers: Record<string, string> = {},
): Promise<Response> {
  const action = path(server, signIn.uid, 'login');
  return signIn.browser.post(`${server.issuer}/interaction/${signIn.uid}/login`, { csrf: formToken(signIn.html, action), ...credentials }, headers);
}

/** Signs in and follows the flow to the consent page; returns that page's interaction. */
export async function signInToConsent(server: TestServer, app: App, credentials: { username: string; password: string }): Promise<SignIn> {
  const signIn = await startSignIn(server, app);
  const login = await submitLogin(server, signIn, credentials);
  if (login.status !== 303) throw new Error(`login answered ${login.status}`);
  const { response } = await signIn.browser.follow(login);
  const html = await response.clone().text();
  const uid = /\/interaction\/([^/"]+)\/confirm/.exec(html)?.[1];
  if (!uid) throw new Error(`expected the consent page, got ${response.status}: ${html}`);
  return { browser: signIn.browser, uid, html, page: response };
}

export function actionPath(server: TestServer, uid: string, action: 'login' | 'confirm' | 'abort'): string {
  return path(server, uid, action);
}
