// Asynchronous human approval (OpenID CIBA, poll mode) over real HTTP: an agent asks through the backchannel
// endpoint, the human answers on /approvals (signed in with a cookie-keeping HTTP client), the agent polls the token
// endpoint. Covers approve (fewer scopes), deny, expiry, polling too fast, the pending limits and blocked agents.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { storedRequestId } from '../support/ciba.js';
import { formToken, HttpBrowser } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';

const API = 'https://files.example.test';
const CIBA = 'urn:openid:params:grant-type:ciba';
const alice = { username: 'alice', password: 'correct horse battery staple' };
const bob = { username: 'bob', password: 'bob also has a long password' };

let server: TestServer;
let aliceId: string;
let bobId: string;
let jwks: ReturnType<typeof createRemoteJWKSet>;
let webhook: http.Server;
const WEBHOOK_SECRET = 'a webhook secret of at least thirty-two characters';
/** What the approval webhook received: body text and signature header. */
const delivered: Array<{ body: string; signature: string }> = [];
type TestAgent = { id: string; secret: string; name: string };

beforeAll(async () => {
  webhook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      delivered.push({ body, signature: String(req.headers['x-agentauth-signature'] ?? '') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  server = await startTestServer({
    env: {
      AGENTAUTH_CIBA_POLL_INTERVAL_S: '1',
      AGENTAUTH_CIBA_MAX_PENDING_PER_HUMAN: '2',
      AGENTAUTH_CIBA_MAX_PENDING_PER_AGENT: '3',
      AGENTAUTH_APPROVAL_WEBHOOK_URL: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`,
      AGENTAUTH_APPROVAL_WEBHOOK_SECRET: WEBHOOK_SECRET,
    },
  });
  jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  await server.stores.resources.create({
    identifier: API,
    name: 'Files API',
    scopes: [
      { name: 'files:read', description: 'Read your files' },
      { name: 'files:write', description: 'Change your files' },
    ],
    access_token_ttl: 300,
  });
  aliceId = (await server.stores.users.create(alice)).id;
  bobId = (await server.stores.users.create(bob)).id;
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await new Promise((resolve) => webhook?.close(resolve));
});

let count = 0;
async function newAgent(): Promise<TestAgent> {
  count += 1;
  const name = `Travel Agent ${count}`;
  const { agent, clientSecret } = await server.stores.agents.create({
    name,
    description: 'Books trains',
    ownerUserId: aliceId,
    scopes: ['files:read', 'files:write'],
    audiences: [API],
    maxTokenTtl: 120,
    tokenEndpointAuthMethod: 'client_secret_basic',
  });
  return { id: agent.id, secret: clientSecret!, name };
}

async function post(agent: TestAgent, endpoint: string, fields: Record<string, string>) {
  const response = await fetch(`${server.issuer}${endpoint}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(agent.id)}:${encodeURIComponent(agent.secret)}`).toString('base64')}`,
    },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const ask = (agent: TestAgent, fields: Record<string, string> = {}) =>
  post(agent, '/backchannel', { scope: 'openid files:read files:write', resource: API, login_hint: 'alice', ...fields });
const poll = (agent: TestAgent, authReqId: string) => post(agent, '/token', { grant_type: CIBA, auth_req_id: authReqId });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function signedIn(credentials = alice): Promise<HttpBrowser> {
  const http = new HttpBrowser(server.url);
  const html = await (await http.get('/approvals')).text();
  const response = await http.post('/approvals/login', { csrf: formToken(html, '/approvals/login'), ...credentials });
  expect(response.status).toBe(303);
  return http;
}

describe('CIBA', () => {
  it('the human approves fewer scopes on /approvals; the agent polls (pending, slow_down) and gets a short-lived token with act', async () => {
    const agent = await newAgent();
    const asked = await ask(agent, { binding_message: 'Book the 9:15 train to Lyon, please.', requested_expiry: '120' });
    expect(asked.status).toBe(200);
    expect(asked.body).toMatchObject({ interval: 1 });
    expect(asked.body.expires_in).toBeLessThanOrEqual(120);
    const id = String(asked.body.auth_req_id);

    expect((await poll(agent, id)).body.error).toBe('authorization_pending');
    expect((await poll(agent, id)).body.error).toBe('slow_down');
    // The audit records the error actually sent, not the one oidc-provider answered first.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const polls = await server.db.prisma.auditEvent.findMany({ where: { action: 'token.refused', agentId: agent.id }, orderBy: { seq: 'asc' } });
    expect(polls.map((event) => (event.details as { error?: string }).error)).toContain('slow_down');

    // The webhook notifier told the human's side, with a payload signed over "<timestamp>.<body>".
    for (let i = 0; i < 40 && !delivered.some((d) => d.body.includes(agent.id)); i += 1) await sleep(50);
    const hook = delivered.find((d) => d.body.includes(agent.id));
    expect(hook).toBeDefined();
    const [t, v1] = hook!.signature.split(',').map((part) => part.split('=')[1]);
    expect(v1).toBe(createHmac('sha256', WEBHOOK_SECRET).update(`${t}.${hook!.body}`).digest('hex'));
    expect(JSON.parse(hook!.body)).toMatchObject({
      type: 'approval.requested',
      user_id: aliceId,
      agent_id: agent.id,
      agent_name: agent.name,
      binding_message: 'Book the 9:15 train to Lyon, please.',
      scopes: ['openid', 'files:read', 'files:write'],
      resources: [API],
    });

    const http = await signedIn();
    const html = await (await http.get('/approvals')).text();
    expect(html).toContain(agent.name);
    expect(html).toContain('Book the 9:15 train to Lyon, please.');
    expect(html).toContain('Read your files');
    const approve = `/approvals/requests/${storedRequestId(server, id)}/approve`;
    // Only files:read (the first scope offered) stays ticked.
    expect((await http.post(approve, { csrf: formToken(html, approve), 'scope.0': 'on' })).status).toBe(303);
    expect(await (await http.get('/approvals')).text()).not.toContain('Book the 9:15 train');

    await sleep(1100);
    const issued = await poll(agent, id);
    expect(issued.status).toBe(200);
    expect(issued.body.id_token).toBeUndefined();
    expect(issued.body.refresh_token).toBeUndefined();
    expect(issued.body.expires_in).toBeLessThanOrEqual(120);
    const { payload } = await jwtVerify(String(issued.body.access_token), jwks, { issuer: server.issuer, audience: API, typ: 'at+jwt' });
    const claims = payload as JWTPayload & Record<string, unknown>;
    expect(claims).toMatchObject({ sub: aliceId, sub_profile: 'user', client_id: agent.id, scope: 'files:read', act: { sub: agent.id } });

    const approval = await server.db.prisma.approval.findFirstOrThrow({ where: { agentId: agent.id } });
    expect(approval).toMatchObject({ userId: aliceId, grantedVia: 'ciba', scopes: ['files:read'], resources: [API], status: 'active' });
    expect(await server.db.prisma.issuedToken.findUnique({ where: { jti: String(claims.jti) } })).toMatchObject({ approvalId: approval.id });
    const audit = await server.db.prisma.auditEvent.findFirstOrThrow({ where: { action: 'ciba.approved', agentId: agent.id } });
    expect(audit).toMatchObject({ actorKind: 'human', actorId: aliceId });

    // The request is spent.
    expect((await poll(agent, id)).body.error).toBe('invalid_grant');
  }, 60_000);

  it('the human denies: the agent hears access_denied and no approval is stored', async () => {
    const agent = await newAgent();
    const id = String((await ask(agent, { binding_message: 'Read my notes' })).body.auth_req_id);
    const http = await signedIn();
    const html = await (await http.get('/approvals')).text();
    const deny = `/approvals/requests/${storedRequestId(server, id)}/deny`;
    expect((await http.post(deny, {})).status).toBe(403);
    expect((await http.post(deny, { csrf: formToken(html, deny) })).status).toBe(303);
    expect((await poll(agent, id)).body.error).toBe('access_denied');
    expect(await server.db.prisma.approval.count({ where: { agentId: agent.id } })).toBe(0);
  }, 60_000);

  it('answers expired_token once the request has expired, and the human no longer sees it', async () => {
    const agent = await newAgent();
    const asked = await ask(agent, { requested_expiry: '1', binding_message: 'quick one' });
    expect(asked.body.expires_in).toBe(1);
    await sleep(1500);
    expect((await poll(agent, String(asked.body.auth_req_id))).body.error).toBe('expired_token');
    const html = await (await (await signedIn()).get('/approvals')).text();
    expect(html).not.toContain('quick one');
  }, 60_000);

  it('limits pending requests per agent and human, and per agent', async () => {
    const agent = await newAgent();
    expect((await ask(agent)).status).toBe(200);
    expect((await ask(agent)).status).toBe(200);
    const third = await ask(agent);
    expect(third.status).toBe(400);
    expect(third.body).toMatchObject({ error: 'access_denied' });
    expect(String(third.body.error_description)).toContain('waiting for this user');

    expect((await ask(agent, { login_hint: 'bob' })).status).toBe(200);
    const fourth = await ask(agent, { login_hint: bobId });
    expect(fourth.body).toMatchObject({ error: 'access_denied' });
    expect(String(fourth.body.error_description)).toContain('3 requests waiting');
  }, 60_000);

  it('refuses a blocked agent at once', async () => {
    const agent = await newAgent();
    await server.db.prisma.agentBlock.create({ data: { userId: aliceId, agentId: agent.id } });
    const asked = await ask(agent);
    expect(asked.body).toMatchObject({ error: 'access_denied', error_description: 'the user has blocked this agent from asking' });
    expect(await server.db.prisma.cibaRequest.count({ where: { agentId: agent.id } })).toBe(0);
    // Another human has not blocked it.
    expect((await ask(agent, { login_hint: 'bob' })).status).toBe(200);
  }, 60_000);

  it('answers a login_hint naming nobody like one naming somebody: the request waits, reaches no one and ends in expiry', async () => {
    const agent = await newAgent();
    const known = await ask(agent);
    const unknown = await ask(agent, { login_hint: 'nobody-here' });
    expect(unknown.status).toBe(known.status);
    expect(Object.keys(unknown.body).sort()).toEqual(Object.keys(known.body).sort());
    expect((await poll(agent, String(unknown.body.auth_req_id))).body.error).toBe('authorization_pending');
    // Nobody sees it: the pseudonymous account is no user, and its request is on nobody's /approvals.
    const row = await server.db.prisma.cibaRequest.findFirst({ where: { agentId: agent.id, userId: { not: aliceId } } });
    expect(row?.userId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-0/);
    expect(await server.db.prisma.user.count({ where: { id: row!.userId } })).toBe(0);
  }, 60_000);

  it('refuses bad requests with protocol errors, never a 500', async () => {
    const agent = await newAgent();
    expect((await ask(agent, { binding_message: 'x'.repeat(121) })).body.error).toBe('invalid_binding_message');
    expect((await ask(agent, { binding_message: 'line one\nline two' })).body.error).toBe('invalid_binding_message');
    expect((await ask(agent, { scope: 'files:read' })).body.error).toBe('invalid_request');
    expect((await ask(agent, { resource: 'https://unregistered.example.test' })).body.error).toBe('invalid_target');
    expect((await ask(agent, { scope: 'openid' })).body.error).toBe('invalid_scope');
    expect((await ask(agent, { requested_expiry: '-5' })).body.error).toBe('invalid_request');
    expect((await poll(agent, 'not-a-request')).body.error).toBe('invalid_grant');
    expect(await server.db.prisma.cibaRequest.count({ where: { agentId: agent.id } })).toBe(0);
  }, 60_000);
});
