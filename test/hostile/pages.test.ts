// Hostile input at the human pages (/approvals and the sign-in/consent interaction pages): broken and oversized
// forms get a 4xx error page, change nothing, and a refused form post is on the record, including a signed-in human
// trying to withdraw someone else's approval.
import { deriveCsrfKey } from '../../src/pages/csrf.js';
import { parseKek } from '../../src/keys/kek.js';
import { formToken, HttpBrowser } from '../support/browser.js';
import { chunkedForm, FORM, NASTY, PASSWORD, runCase, send, startCast, type Cast, type HostileCase } from './support.js';
import { createHmac } from 'node:crypto';

const cast: Cast = await startCast();
afterAll(() => cast.server.stop());

/** Bob, signed in on /approvals in a cookie-keeping client. */
const bob = new HttpBrowser(cast.server.url);
{
  const page = await (await bob.get('/approvals')).text();
  const signedIn = await bob.post('/approvals/login', { username: cast.bob.username, password: PASSWORD, csrf: formToken(page, '/approvals/login') });
  if (signedIn.status !== 303) throw new Error(`bob could not sign in: ${signedIn.status}`);
  await bob.get('/approvals'); // sets the CSRF cookie for the page's forms
}
const csrfKey = deriveCsrfKey(parseKek(cast.server.config.kek!));
/** A CSRF token bob's browser would hold for `purpose` (computed here: the page never offers it for others' approvals). */
function csrfFor(browser: HttpBrowser, purpose: string): string {
  const cookie = [...browser.jar.values()].find((c) => c.name === 'agentauth.csrf')!.value;
  return createHmac('sha256', csrfKey).update(`${cookie}:${purpose}`, 'utf8').digest('base64url');
}

const cases: HostileCase[] = [];
const page = (name: string, method: string, path: string, body?: string | Buffer | Buffer[], extra: Partial<HostileCase> = {}): HostileCase => ({
  name: `${method} ${path.length > 60 ? `${path.slice(0, 60)}…` : path}: ${name}`,
  method,
  path,
  headers: { ...FORM, cookie: bob.cookieHeader('/approvals/x') },
  ...(body !== undefined ? { body } : {}),
  shape: 'page',
  ...extra,
});
const login = (username: string, password: string) => `username=${username}&password=${password}&csrf=${csrfFor(bob, 'approvals/login')}`;

for (const nasty of NASTY) {
  cases.push(page(`${nasty.label} in the username`, 'POST', '/approvals/login', login(nasty.encoded, 'x'), { status: [400] }));
  cases.push(page(`${nasty.label} in the password`, 'POST', '/approvals/login', login('alice', nasty.encoded), { status: [400] }));
  cases.push(page(`${nasty.label} in the CSRF field`, 'POST', '/approvals/login', `username=alice&password=x&csrf=${nasty.encoded}`, { status: [400, 403] }));
  cases.push(page(`${nasty.label} in the query`, 'GET', `/approvals?x=${nasty.encoded}`, undefined, { status: [400] }));
  cases.push(page(`${nasty.label} as the approval id`, 'POST', `/approvals/${nasty.encoded}/withdraw`, 'csrf=x', { status: [400, 403, 404] }));
  cases.push(page(`${nasty.label} as the request id`, 'POST', `/approvals/requests/${nasty.encoded}/approve`, 'csrf=x', { status: [400, 403, 404] }));
  cases.push(page(`${nasty.label} as the agent id`, 'POST', `/approvals/agents/${nasty.encoded}/block`, 'csrf=x', { status: [400, 403, 404] }));
  cases.push(page(`${nasty.label} as the interaction uid`, 'GET', `/interaction/${nasty.encoded}`, undefined, { status: [400, 404] }));
  cases.push(page(`${nasty.label} in the interaction login form`, 'POST', '/interaction/abc/login', `username=${nasty.encoded}&password=x&csrf=y`, { status: [400, 403] }));
  cases.push(page(`${nasty.label} in the consent form`, 'POST', '/interaction/abc/confirm', `scope=${nasty.encoded}&csrf=y`, { status: [400, 403] }));
}
cases.push(page('raw invalid UTF-8 bytes', 'POST', '/approvals/login', Buffer.from([0x75, 0x73, 0x65, 0x72, 0x6e, 0x61, 0x6d, 0x65, 0x3d, 0xff]), { status: [400] }));
cases.push(page('20 KB chunked sign-in form', 'POST', '/approvals/login', chunkedForm(2 * 1024, 10), { status: [413] }));
cases.push(page('1 MB chunked sign-in form', 'POST', '/approvals/login', chunkedForm(64 * 1024, 16), { status: [413] }));
cases.push(page('20 KB sign-in form', 'POST', '/approvals/login', `username=${'a'.repeat(20 * 1024)}`, { status: [413] }));
cases.push(page('20 KB chunked interaction form', 'POST', '/interaction/abc/login', chunkedForm(2 * 1024, 10), { status: [413] }));
cases.push(page('JSON instead of a form', 'POST', '/approvals/login', '{"username":"alice"}', { headers: { 'content-type': 'application/json', cookie: bob.cookieHeader('/approvals/x') }, status: [400, 415] }));
cases.push(page('multipart form', 'POST', '/approvals/login', '--x\r\n\r\n--x--', { headers: { 'content-type': 'multipart/form-data; boundary=x', cookie: bob.cookieHeader('/approvals/x') }, status: [400, 415] }));
cases.push(page('gzip-encoded form', 'POST', '/approvals/login', Buffer.from([0x1f, 0x8b]), { headers: { ...FORM, 'content-encoding': 'gzip' }, status: [400, 415] }));
cases.push(page('username sent twice', 'POST', '/approvals/login', `${login('alice', 'x')}&username=bob`, { status: [400] }));
cases.push(page('a 300-character username', 'POST', '/approvals/login', login('a'.repeat(300), 'x'), { status: [400] }));
cases.push(page('no CSRF field', 'POST', '/approvals/login', 'username=alice&password=x', { status: [403], audit: 'csrf.rejected' }));
cases.push(page('a CSRF token of another form', 'POST', `/approvals/${cast.aliceApproval.id}/withdraw`, `csrf=${csrfFor(bob, 'approvals/login')}`, { status: [403], audit: 'csrf.rejected' }));
cases.push(page("withdrawing someone else's approval", 'POST', `/approvals/${cast.aliceApproval.id}/withdraw`, `csrf=${csrfFor(bob, `approvals/withdraw/${cast.aliceApproval.id}`)}`, { status: [404], audit: 'page.refused' }));
cases.push(page("answering a request that is not one's own", 'POST', '/approvals/requests/abcdef/approve', `csrf=${csrfFor(bob, 'approvals/approve/abcdef')}&scope.0=on`, { status: [404], audit: 'page.refused' }));
cases.push(page('blocking an agent that does not exist', 'POST', '/approvals/agents/nobody/block', `csrf=${csrfFor(bob, 'approvals/block/nobody')}`, { status: [404], audit: 'page.refused' }));
cases.push(page('withdrawing without being signed in', 'POST', `/approvals/${cast.aliceApproval.id}/withdraw`, `csrf=${csrfFor(bob, `approvals/withdraw/${cast.aliceApproval.id}`)}`, {
  headers: { ...FORM, cookie: [...bob.jar.values()].filter((c) => c.name === 'agentauth.csrf').map((c) => `${c.name}=${c.value}`).join('; ') },
  status: [401],
  audit: 'page.refused',
}));
cases.push(page('a forged sign-in cookie', 'GET', '/approvals', undefined, { headers: { cookie: `agentauth.approvals=${cast.alice.id}.9999999999.forged` }, status: [200] }));
cases.push(page('a sign-in cookie with NUL', 'GET', '/approvals', undefined, { headers: { cookie: 'agentauth.approvals=%00.1.x' }, status: [200] }));

describe('hostile input at the human pages', () => {
  for (const c of cases) {
    it(`${c.name}: ${c.status?.join('/') ?? '4xx'}${c.audit ? `, audited as ${c.audit}` : ''}`, async () => {
      if (c.status?.[0] === 200) {
        // A forged cookie is no sign-in: the sign-in page, nobody's approvals.
        const response = await send(cast.server.url, c);
        expect(response.status).toBe(200);
        expect(response.text).toContain('name="password"');
        return;
      }
      await runCase(cast, c);
    });
  }
});
