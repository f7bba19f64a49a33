// Prometheus metrics over real HTTP: never open by default, bearer-protected on the public port, open on a
// loopback port of their own; and after a token, a refusal, a revocation and a pending CIBA request, the counters
// and gauges say so.
import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { generateSecret } from '../../src/secrets/secret-hasher.js';
import { adminClient } from '../admin/support.js';
import { freePort, startTestServer, type TestServer } from '../support/server.js';

const API = 'https://metrics.example.test';
const METRICS_TOKEN = randomBytes(24).toString('base64url');
let server: TestServer;
let metricsPort: number;
let adminKey: string;
let app: { clientId: string; clientSecret?: string };

beforeAll(async () => {
  metricsPort = await freePort();
  adminKey = generateSecret('aa_ak');
  server = await startTestServer({
    env: { AGENTAUTH_METRICS_TOKEN: METRICS_TOKEN, AGENTAUTH_METRICS_PORT: String(metricsPort), AGENTAUTH_BOOTSTRAP_ADMIN_KEY: adminKey },
  });
  await server.stores.resources.create({ identifier: API, name: 'Metrics API', scopes: [{ name: 'files:read', description: 'Read your files' }] });
  app = await server.stores.clients.createApp({ name: 'App', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic', resources: [API], scopes: ['files:read'] });
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

const scrapePublic = async (token = METRICS_TOKEN) => fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();

/** The value of one sample (`name{labels} value`), 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return 0;
}

async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 40; i += 1) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const configFor = (c: { clientId: string; clientSecret?: string }) =>
  client.discovery(new URL(server.issuer), c.clientId, undefined, client.ClientSecretBasic(c.clientSecret!), { execute: [client.allowInsecureRequests] });

it('on the public port answers only with the metrics token as a bearer', async () => {
  expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
  const wrong = await scrapePublic(METRICS_TOKEN.slice(0, -1) + (METRICS_TOKEN.endsWith('A') ? 'B' : 'A'));
  expect(wrong.status).toBe(401);
  expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
  const right = await scrapePublic();
  expect(right.status).toBe(200);
  expect(right.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  expect(await right.text()).toContain('# TYPE agentauth_tokens_issued_total counter');
});

it('is not served on the public port of a server without a metrics token', async () => {
  const plain = await startTestServer();
  try {
    const response = await fetch(`${plain.url}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('agentauth_');
  } finally {
    await plain.stop();
  }
});

it('counts a token, a refusal and a revocation, and times the token endpoint', async () => {
  const before = await scrape();
  const issuedLabels = { grant_type: 'client_credentials', principal_kind: 'app', resource: API, token_kind: 'access_token' };
  const config = await configFor(app);

  const token = (await client.clientCredentialsGrant(config, { scope: 'files:read', resource: API })).access_token;
  await expect(client.clientCredentialsGrant(config, { scope: 'files:write', resource: API })).rejects.toMatchObject({ error: 'invalid_scope' });
  const revoked = await adminClient(server, adminKey)('POST', '/revocations', { jti: decodeJwt(token).jti });
  expect(revoked.body).toEqual({ revoked: 1 });

  let after = '';
  await eventually(async () => {
    after = await scrape();
    return sample(after, 'agentauth_refusals_total', { endpoint: 'token', rule: 'scope_not_defined' }) > sample(before, 'agentauth_refusals_total', { endpoint: 'token', rule: 'scope_not_defined' });
  });
  expect(sample(after, 'agentauth_tokens_issued_total', issuedLabels) - sample(before, 'agentauth_tokens_issued_total', issuedLabels)).toBe(1);
  expect(
    sample(after, 'agentauth_refusals_total', { endpoint: 'token', rule: 'scope_not_defined' }) - sample(before, 'agentauth_refusals_total', { endpoint: 'token', rule: 'scope_not_defined' }),
  ).toBe(1);
  expect(sample(after, 'agentauth_tokens_revoked_total', { initiator: 'admin' }) - sample(before, 'agentauth_tokens_revoked_total', { initiator: 'admin' })).toBe(1);
  const timed = { grant_type: 'client_credentials', status: '200' };
  expect(sample(after, 'agentauth_token_request_duration_seconds_count', timed) - sample(before, 'agentauth_token_request_duration_seconds_count', timed)).toBe(1);
  const refusedTimed = { grant_type: 'client_credentials', status: '400' };
  expect(sample(after, 'agentauth_token_request_duration_seconds_count', refusedTimed) - sample(before, 'agentauth_token_request_duration_seconds_count', refusedTimed)).toBe(1);
  // Labels never carry ids.
  expect(after).not.toContain(app.clientId);
});

it('reports pending CIBA requests, the database pool and the age of the keys in use', async () => {
  const alice = await server.stores.users.create({ username: 'alice', password: 'correct horse battery staple' });
  const { agent, clientSecret } = await server.stores.agents.create({
    name: 'Metrics agent',
    ownerUserId: alice.id,
    scopes: ['files:read'],
    audiences: [API],
    tokenEndpointAuthMethod: 'client_secret_basic',
  });
  expect(sample(await scrape(), 'agentauth_ciba_pending_requests')).toBe(0);
  const asked = await fetch(`${server.issuer}/backchannel`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${agent.id}:${clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ scope: 'openid files:read', resource: API, login_hint: 'alice' }).toString(),
  });
  expect(asked.status).toBe(200);

  const text = await scrape();
  expect(sample(text, 'agentauth_ciba_pending_requests')).toBe(1);
  expect(sample(text, 'agentauth_db_pool_connections', { state: 'max' })).toBe(server.config.dbPoolSize);
  expect(sample(text, 'agentauth_db_pool_connections', { state: 'total' })).toBeGreaterThan(0);
  for (const kind of ['signing', 'cookie']) {
    expect(text).toMatch(new RegExp(`^agentauth_key_age_seconds\\{kind="${kind}"\\} \\d+$`, 'm'));
    expect(sample(text, 'agentauth_key_age_seconds', { kind })).toBeLessThan(600);
  }
});

it('answers only GET /metrics on the metrics port', async () => {
  expect((await fetch(`http://127.0.0.1:${metricsPort}/`)).status).toBe(404);
  expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST' })).status).toBe(404);
});
