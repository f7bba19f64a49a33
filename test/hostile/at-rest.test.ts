// No usable bearer value at rest or in the logs: a CIBA auth_req_id (a bearer value: whoever holds it collects the
// token) is found in no table, no audit event and no access-log line; payload rows of bearer models keep no `jti`;
// revocation events name records, not token values. Also: a password change ends the /approvals sign-in, and the
// discovery document names the configured issuer whatever Host a client sends.
import { PassThrough } from 'node:stream';
import { API } from '../admin/support.js';
import { formToken, HttpBrowser } from '../support/browser.js';
import { FORM, PASSWORD, send, startCast, type Cast } from './support.js';

const lines: string[] = [];
const logs = new PassThrough();
logs.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
const cast: Cast = await startCast({ env: { LOG_LEVEL: 'info', AGENTAUTH_CIBA_POLL_INTERVAL_S: '1' }, logs });
afterAll(() => cast.server.stop());

const CIBA = 'urn:openid:params:grant-type:ciba';
const BEARER_MODELS = ['AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials', 'BackchannelAuthenticationRequest', 'Session'];

async function form(path: string, body: Record<string, string>, client = cast.agent) {
  const response = await send(cast.server.url, { method: 'POST', path, headers: { ...FORM, authorization: cast.basic(client) }, body: new URLSearchParams(body).toString() });
  return { status: response.status, body: JSON.parse(response.text) as Record<string, unknown> };
}

async function signIn(who: { username: string }): Promise<HttpBrowser> {
  const browser = new HttpBrowser(cast.server.url);
  const page = await (await browser.get('/approvals')).text();
  const response = await browser.post('/approvals/login', { username: who.username, password: PASSWORD, csrf: formToken(page, '/approvals/login') });
  expect(response.status).toBe(303);
  return browser;
}

async function textAnywhere(value: string): Promise<Record<string, number>> {
  const rows = await cast.server.db.prisma.$queryRawUnsafe<Array<Record<string, bigint>>>(
    `SELECT (SELECT count(*) FROM oidc_payloads WHERE id = $1 OR payload::text LIKE '%' || $1 || '%') AS payloads,
            (SELECT count(*) FROM ciba_requests WHERE id = $1) AS ciba_requests,
            (SELECT count(*) FROM audit_events WHERE details::text LIKE '%' || $1 || '%') AS audit_events,
            (SELECT count(*) FROM issued_tokens WHERE jti = $1) AS issued_tokens`,
    value,
  );
  return Object.fromEntries(Object.entries(rows[0]!).map(([k, v]) => [k, Number(v)]));
}

it('keeps no auth_req_id in any table, audit event or access-log line through a whole CIBA approval', async () => {
  const asked = await form('/backchannel', { login_hint: cast.alice.username, scope: 'openid files:read', resource: API, binding_message: 'Check the files' });
  expect(asked.status).toBe(200);
  const authReqId = asked.body.auth_req_id as string;
  expect((await form('/token', { grant_type: CIBA, auth_req_id: authReqId })).body.error).toBe('authorization_pending');

  const alice = await signIn(cast.alice);
  const page = await (await alice.get('/approvals')).text();
  const action = /action="(\/approvals\/requests\/[^"]+\/approve)"/.exec(page)![1]!;
  expect(action).not.toContain(authReqId);
  expect((await alice.post(action, { csrf: formToken(page, action), 'scope.0': 'on', 'scope.1': 'on' })).status).toBe(303);

  await new Promise((r) => setTimeout(r, 1100));
  const issued = await form('/token', { grant_type: CIBA, auth_req_id: authReqId });
  expect(issued.status).toBe(200);
  expect(typeof issued.body.access_token).toBe('string');

  expect(await textAnywhere(authReqId)).toEqual({ payloads: 0, ciba_requests: 0, audit_events: 0, issued_tokens: 0 });
  const [row] = await cast.server.db.prisma.cibaRequest.findMany({ where: { agentId: cast.agent.id } });
  expect(row!.id).toMatch(/^hmac-sha256:/);
  expect(lines.some((line) => line.includes(authReqId))).toBe(false);
  expect(lines.some((line) => line.includes('"path":"/approvals/requests/hmac-sha256:'))).toBe(true);
});

it('stores no jti in the payload of any bearer model (the row id is its keyed hash)', async () => {
  await signIn(cast.bob); // a few more rows of other kinds
  const withJti = await cast.server.db.prisma.$queryRawUnsafe<Array<{ model: string }>>(
    `SELECT model FROM oidc_payloads WHERE model = ANY($1) AND payload ? 'jti' AND NOT EXISTS (SELECT 1 FROM issued_tokens t WHERE t.jti = oidc_payloads.payload->>'jti' AND t.format = 'jwt')`,
    BEARER_MODELS,
  );
  expect(withJti).toEqual([]);
  expect(await cast.server.db.prisma.oidcPayload.count({ where: { model: { in: BEARER_MODELS } } })).toBeGreaterThan(0);
});

it('records the revoked record, never the value an admin revoked by', async () => {
  const opaque = 'an-opaque-token-value-that-must-not-be-logged';
  const response = await cast.admin('POST', '/revocations', { jti: opaque });
  expect(response.status).toBe(200);
  expect((await textAnywhere(opaque)).audit_events).toBe(0);
});

it('ends the /approvals sign-in when the password changes', async () => {
  const bob = await signIn(cast.bob);
  expect(await (await bob.get('/approvals')).text()).toContain('Your approvals');
  const changed = await cast.admin('PATCH', `/users/${cast.bob.id}`, { password: 'an entirely new long password' });
  expect(changed.status).toBe(200);
  const after = await (await bob.get('/approvals')).text();
  expect(after).not.toContain('Your approvals');
  expect(after).toContain('name="password"');
  expect(await cast.server.db.prisma.oidcPayload.count({ where: { model: 'Session', payload: { path: ['accountId'], equals: cast.bob.id } } })).toBe(0);
});

it('builds discovery URLs from the configured issuer, not from the Host header', async () => {
  const response = await send(cast.server.url, { path: '/.well-known/openid-configuration', headers: { host: 'attacker.example' } });
  expect(response.status).toBe(200);
  const document = JSON.parse(response.text) as Record<string, unknown>;
  expect(document.jwks_uri).toBe(`${cast.server.issuer}/jwks`);
  expect(document.token_endpoint).toBe(`${cast.server.issuer}/token`);
  expect(response.text).not.toContain('attacker.example');
});
