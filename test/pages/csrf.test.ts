// Every POST of the interaction pages checks a signed double-submit CSRF token before it does anything: a form
// without the token, with a wrong one, with one minted for another form, or sent with another browser's cookie is
// refused with a 403 page, audited, and changes nothing.
import { createCsrfGuard, deriveCsrfKey } from '../../src/pages/csrf.js';
import { formToken, HttpBrowser } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { actionPath, loadInteraction, registerApp, signInToConsent, startSignIn, submitLogin, type App } from './interaction-flow.js';

let server: TestServer;
let app: App;
const alice = { username: 'alice', password: 'correct horse battery staple' };

beforeAll(async () => {
  server = await startTestServer();
  app = await registerApp(server);
  await server.stores.users.create(alice);
});
afterAll(async () => {
  await server.stop();
});

const csrfRejections = () => server.db.prisma.auditEvent.count({ where: { action: 'csrf.rejected' } });
const loginEvents = () => server.db.prisma.auditEvent.count({ where: { action: { startsWith: 'login.' } } });
const grants = () => server.db.prisma.oidcPayload.count({ where: { model: 'Grant' } });

async function expectRefused(response: Response): Promise<void> {
  expect(response.status).toBe(403);
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const html = await response.text();
  expect(html).toContain('This form could not be accepted');
  expect(html).not.toMatch(/at .*\.(ts|js):\d+/);
}

describe('the login form', () => {
  it('refuses a POST without the CSRF field, and nothing happens', async () => {
    const signIn = await startSignIn(server, app);
    const [before, logins] = [await csrfRejections(), await loginEvents()];

    await expectRefused(await signIn.browser.post(`${server.issuer}/interaction/${signIn.uid}/login`, alice));

    expect(await csrfRejections()).toBe(before + 1);
    expect(await loginEvents()).toBe(logins);
    expect(await server.db.prisma.loginThrottle.count()).toBe(0);
    // The interaction is still waiting for a login.
    expect((await loadInteraction(signIn.browser, server, signIn.uid)).html).toContain('name="password"');
  });

  it('refuses a wrong token, and a token minted for another form', async () => {
    const signIn = await startSignIn(server, app);
    const wrong = 'A'.repeat(43);
    await expectRefused(await signIn.browser.post(`${server.issuer}/interaction/${signIn.uid}/login`, { ...alice, csrf: wrong }));

    const abortToken = formToken(signIn.html, actionPath(server, signIn.uid, 'abort'));
    await expectRefused(await signIn.browser.post(`${server.issuer}/interaction/${signIn.uid}/login`, { ...alice, csrf: abortToken }));
    expect(await server.db.prisma.auditEvent.count({ where: { action: 'login.succeeded' } })).toBe(0);
  });

  it('refuses a valid token sent with another cookie (the double-submit pair must match)', async () => {
    const victim = await startSignIn(server, app);
    const token = formToken(victim.html, actionPath(server, victim.uid, 'login'));
    // Same interaction cookies, but the CSRF cookie of another browser.
    const other = await startSignIn(server, app);
    const otherCsrf = [...other.browser.jar.values()].find((c) => c.name === 'agentauth.csrf')!;
    for (const [key, cookie] of victim.browser.jar) if (cookie.name === 'agentauth.csrf') victim.browser.jar.set(key, { ...cookie, value: otherCsrf.value });

    await expectRefused(await victim.browser.post(`${server.issuer}/interaction/${victim.uid}/login`, { ...alice, csrf: token }));
  });

  it('refuses a valid token when the CSRF cookie is missing', async () => {
    const signIn = await startSignIn(server, app);
    const token = formToken(signIn.html, actionPath(server, signIn.uid, 'login'));
    for (const [key, cookie] of signIn.browser.jar) if (cookie.name === 'agentauth.csrf') signIn.browser.jar.delete(key);

    await expectRefused(await signIn.browser.post(`${server.issuer}/interaction/${signIn.uid}/login`, { ...alice, csrf: token }));
  });

  it('accepts the form with its own token and cookie (the control case)', async () => {
    const signIn = await startSignIn(server, app);
    const response = await submitLogin(server, signIn, alice);
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toMatch(new RegExp(`/auth/${signIn.uid}$`));
  });

  it('sets the CSRF cookie httpOnly, SameSite=Strict, scoped to the interaction', async () => {
    const browser = new HttpBrowser(server.issuer);
    const signIn = await startSignIn(server, app, { browser });
    const header = signIn.page.headers.getSetCookie().find((c) => c.startsWith('agentauth.csrf='));
    expect(header).toMatch(/httponly/i);
    expect(header).toMatch(/samesite=strict/i);
    expect(header).toMatch(new RegExp(`path=/interaction/${signIn.uid}(;|$)`));
  });
});

describe('the consent form', () => {
  it('refuses confirm and abort without a valid token: no grant is saved and the consent is still pending', async () => {
    const consent = await signInToConsent(server, app, alice);
    const grantsBefore = await grants();

    await expectRefused(await consent.browser.post(`${server.issuer}/interaction/${consent.uid}/confirm`, {}));
    await expectRefused(await consent.browser.post(`${server.issuer}/interaction/${consent.uid}/confirm`, { csrf: 'x' }));
    const confirmToken = formToken(consent.html, actionPath(server, consent.uid, 'confirm'));
    await expectRefused(await consent.browser.post(`${server.issuer}/interaction/${consent.uid}/abort`, { csrf: confirmToken }));

    expect(await grants()).toBe(grantsBefore);
    expect((await loadInteraction(consent.browser, server, consent.uid)).html).toContain('Allow access?');
    expect(await server.db.prisma.auditEvent.count({ where: { action: { in: ['consent.granted', 'consent.denied'] } } })).toBe(0);
  });

  it('saves the grant and continues the flow with the right token', async () => {
    const consent = await signInToConsent(server, app, alice);
    const token = formToken(consent.html, actionPath(server, consent.uid, 'confirm'));
    const response = await consent.browser.post(`${server.issuer}/interaction/${consent.uid}/confirm`, { csrf: token });
    expect(response.status).toBe(303);
    const { leftTo } = await consent.browser.follow(response);
    expect(leftTo?.searchParams.get('code')).toBeTruthy();
  });
});

describe('the tokens', () => {
  const guard = createCsrfGuard(deriveCsrfKey(Buffer.alloc(32, 7)));
  const fakeContext = (cookie: string | undefined) =>
    ({ cookies: { get: () => cookie, set: () => undefined }, secure: false }) as unknown as Parameters<typeof guard.check>[0];
  const scope = { purpose: 'interaction/abc/login', path: '/interaction/abc' };
  const cookie = 'c'.repeat(43);

  it('are bound to the cookie value and the purpose', () => {
    const token = guard.issue(fakeContext(cookie), scope);
    expect(guard.check(fakeContext(cookie), scope, token)).toBeUndefined();
    expect(guard.check(fakeContext('d'.repeat(43)), scope, token)).toBe('invalid_token');
    expect(guard.check(fakeContext(cookie), { ...scope, purpose: 'interaction/abc/confirm' }, token)).toBe('invalid_token');
    expect(guard.check(fakeContext(cookie), scope, `${token}!`)).toBe('invalid_token');
    expect(guard.check(fakeContext(cookie), scope, undefined)).toBe('missing_token');
    expect(guard.check(fakeContext(undefined), scope, token)).toBe('missing_cookie');
  });

  it('depend on the server key', () => {
    const token = guard.issue(fakeContext(cookie), scope);
    const otherServer = createCsrfGuard(deriveCsrfKey(Buffer.alloc(32, 8)));
    expect(otherServer.check(fakeContext(cookie), scope, token)).toBe('invalid_token');
  });
});
