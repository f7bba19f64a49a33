// The interaction pages over HTTP: what they render and with which headers, the audit events of a login, and that
// every bad request (unknown interaction, wrong body type, oversized or malformed body) gets a clear 4xx page and
// never a 500 or a stack trace.
import { formToken, HttpBrowser } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { actionPath, API, loadInteraction, registerApp, signInToConsent, startSignIn, submitLogin, type App } from './interaction-flow.js';

let server: TestServer;
let app: App;
let aliceId: string;
const alice = { username: 'alice', password: 'correct horse battery staple' };

beforeAll(async () => {
  server = await startTestServer();
  app = await registerApp(server);
  aliceId = (await server.stores.users.create(alice)).id;
});
afterAll(async () => {
  await server.stop();
});

function expectPageHeaders(response: Response): void {
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const csp = response.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("style-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toMatch(/form-action 'self'/);
  expect(csp).not.toMatch(/script-src|unsafe-inline/);
}

async function expectErrorPage(response: Response, status: number, text: string | RegExp): Promise<void> {
  expect(response.status).toBe(status);
  expectPageHeaders(response);
  const html = await response.text();
  expect(html).toMatch(text);
  expect(html).not.toMatch(/\bat .*\.(ts|js):\d+|node_modules|Error:/);
}

describe('the login page', () => {
  it('renders an accessible form naming the client, with page headers that allow forms only to us and the client', async () => {
    const { page, html } = await startSignIn(server, app);
    expect(page.status).toBe(200);
    expectPageHeaders(page);
    expect(page.headers.get('content-security-policy')).toContain("form-action 'self' http://127.0.0.1:9");
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('<label for="username">Username</label>');
    expect(html).toContain('<label for="password">Password</label>');
    expect(html).toContain('autocomplete="current-password"');
    expect(html).toContain('Photo Printer');
    expect(html).not.toContain('<script');
  });

  it('serves its stylesheet from our origin', async () => {
    const { html } = await startSignIn(server, app);
    const href = /<link rel="stylesheet" href="([^"]+)">/.exec(html)![1]!;
    const css = await fetch(new URL(href, server.issuer));
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('audits a failed login with the user it named, and a successful one with ip and request id', async () => {
    const signIn = await startSignIn(server, app);
    const failed = await submitLogin(server, signIn, { ...alice, password: 'wrong password here' });
    expect(failed.status).toBe(400);
    expectPageHeaders(failed);
    expect(await failed.text()).toContain('Invalid username or password.');

    const ok = await submitLogin(server, signIn, alice, { 'x-request-id': 'req-login-test-1' });
    expect(ok.status).toBe(303);

    const events = await server.db.prisma.auditEvent.findMany({ where: { action: { startsWith: 'login.' }, userId: aliceId }, orderBy: { seq: 'asc' } });
    expect(events.map((e) => [e.action, e.outcome])).toEqual([
      ['login.failed', 'failure'],
      ['login.succeeded', 'success'],
    ]);
    expect(events[0]).toMatchObject({ actorKind: 'human', actorId: aliceId, clientId: app.clientId, ip: '127.0.0.1' });
    expect(events[0]!.details).toMatchObject({ reason: 'invalid_credentials', username: 'alice' });
    expect(events[1]).toMatchObject({ actorKind: 'human', actorId: aliceId, requestId: 'req-login-test-1', ip: '127.0.0.1' });
    expect(JSON.stringify(events, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value))).not.toContain(alice.password);
  });

  it('asks again for an empty username or password without counting an attempt', async () => {
    const signIn = await startSignIn(server, app);
    const response = await submitLogin(server, signIn, { username: '', password: '' });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Enter your username and your password.');
    expect(await server.db.prisma.loginThrottle.findUnique({ where: { key: 'user:' } })).toBeNull();
  });
});

describe('the consent page', () => {
  it('names the client, the resource and each requested scope with its description', async () => {
    const consent = await signInToConsent(server, app, alice);
    expect(consent.page.status).toBe(200);
    expectPageHeaders(consent.page);
    expect(consent.html).toContain('Photo Printer');
    expect(consent.html).toContain('Files API');
    expect(consent.html).toContain(API);
    expect(consent.html).toContain('Read your files');
    expect(consent.html).not.toContain('Change your files');
    expect(consent.html).toContain('Know who you are');
  });

  it('escapes what clients and resources control', async () => {
    const hostile = await server.stores.clients.createApp({
      name: '<img src=x onerror=alert(1)>',
      redirectUris: ['http://127.0.0.1:9/cb'],
      grantTypes: ['authorization_code'],
      authMethod: 'client_secret_basic',
      resources: [API],
      scopes: ['files:read'],
    });
    const { html } = await startSignIn(server, hostile);
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('refuses a login form replayed after the flow moved on', async () => {
    const signIn = await startSignIn(server, app);
    const login = await submitLogin(server, signIn, alice);
    expect(login.status).toBe(303);
    await signIn.browser.follow(login);
    // The same interaction's login form again, once oidc-provider has resumed (and ended) that interaction.
    await expectErrorPage(await submitLogin(server, signIn, alice), 400, 'no longer valid');
  });
});

describe('bad requests get a 4xx page, never a 500', () => {
  it('an unknown interaction', async () => {
    await expectErrorPage(await fetch(`${server.issuer}/interaction/does-not-exist`), 400, 'This sign-in request is no longer valid');
  });

  it('an interaction id that is not one', async () => {
    // Not valid text at all: the path names nothing (the HTTP edge's input rule).
    await expectErrorPage(await fetch(`${server.issuer}/interaction/${'%00'.repeat(3)}`), 404, 'nothing at this path');
  });

  it('another interaction than the one the browser is in', async () => {
    const first = await startSignIn(server, app);
    const second = await startSignIn(server, app);
    await expectErrorPage(await first.browser.get(`${server.issuer}/interaction/${second.uid}`), 400, 'no longer valid');
  });

  it('a body that is not a form', async () => {
    const signIn = await startSignIn(server, app);
    const response = await signIn.browser.request(`${server.issuer}/interaction/${signIn.uid}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alice),
    });
    await expectErrorPage(response, 415, 'Unsupported form submission');
  });

  it('a body over 16 KiB', async () => {
    const signIn = await startSignIn(server, app);
    const response = await signIn.browser.post(`${server.issuer}/interaction/${signIn.uid}/login`, { ...alice, padding: 'x'.repeat(17 * 1024) });
    await expectErrorPage(response, 413, 'too large');
  });

  it('a malformed form body', async () => {
    const signIn = await startSignIn(server, app);
    const response = await signIn.browser.request(`${server.issuer}/interaction/${signIn.uid}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=%zz%&username=%E0%A4%A&&&==',
    });
    // The username is not valid UTF-8: refused by the HTTP edge before the form is read.
    await expectErrorPage(response, 400, 'not valid UTF-8');
  });

  it('a field sent twice', async () => {
    const signIn = await startSignIn(server, app);
    const token = formToken(signIn.html, actionPath(server, signIn.uid, 'login'));
    const response = await signIn.browser.request(`${server.issuer}/interaction/${signIn.uid}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${token}&csrf=${token}&username=alice&password=x`,
    });
    await expectErrorPage(response, 400, 'more than once');
  });

  it('an authorization request the provider rejects renders our error page', async () => {
    const response = await fetch(`${server.issuer}/auth?client_id=nobody&response_type=code&scope=openid`, { headers: { accept: 'text/html' } });
    await expectErrorPage(response, 400, /The application is not known|not valid/);
  });

  it('a resumed authorization without its cookies renders our error page', async () => {
    const signIn = await startSignIn(server, app);
    const response = await new HttpBrowser(server.issuer).get(`${server.issuer}/auth/${signIn.uid}`, { accept: 'text/html' });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(await response.text()).not.toMatch(/\bat .*\.(ts|js):\d+/);
  });
});

describe('logout without a session', () => {
  it('lets oidc-provider\'s self-submitting form run under a policy that allows only its script', async () => {
    const response = await fetch(`${server.issuer}/session/end`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain("default-src 'none'");
  });
});

describe('a page that exists', () => {
  it('keeps working when the interaction is loaded again', async () => {
    const signIn = await startSignIn(server, app);
    const again = await loadInteraction(signIn.browser, server, signIn.uid);
    expect(again.page.status).toBe(200);
    // The reloaded page's token works: the cookie was reused, not replaced.
    expect((await submitLogin(server, { ...signIn, html: again.html }, alice)).status).toBe(303);
  });
});
