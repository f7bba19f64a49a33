// Dynamic Client Registration (RFC 7591): off unless AGENTAUTH_DCR says otherwise; when open, rate-limited per
// address, narrowed to public code-flow clients, landing as agents without an owner under the same kill switch,
// and swept when never used.
import { loadConfig } from '../../src/config.js';
import { createDynamicClientStore } from '../../src/clients/dynamic-client-store.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { authorizeThroughPages, claimsOf, redeemCode } from '../support/public-client-flow.js';

const MCP = 'https://mcp.example.test/mcp';
const CLOSED = 'https://payroll.example.test/mcp';
const ALICE = { username: 'alice', password: 'correct horse battery staple' };
const registration = (extra: Record<string, unknown> = {}) => ({
  client_name: 'Editor plugin',
  application_type: 'native',
  redirect_uris: ['http://127.0.0.1/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  token_endpoint_auth_method: 'none',
  scope: 'tools:call',
  ...extra,
});

async function register(server: TestServer, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, unknown> };
}

it('is off by default: no registration endpoint is advertised or served', async () => {
  const server = await startTestServer();
  try {
    const discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery).not.toHaveProperty('registration_endpoint');
    expect((await register(server, registration())).status).toBe(404);
  } finally {
    await server.stop();
  }
});

it('token mode needs an initial access token in the configuration', () => {
  expect(() => loadConfig({ AGENTAUTH_DCR: 'token' })).toThrow('AGENTAUTH_DCR_INITIAL_ACCESS_TOKEN');
});

describe('open registration', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { AGENTAUTH_DCR: 'open', AGENTAUTH_DCR_MAX_PER_HOUR: '3' } });
    await server.stores.resources.create({ identifier: MCP, name: 'MCP', scopes: [{ name: 'tools:call', description: 'Use the tools' }] });
    await server.stores.resources.create({
      identifier: CLOSED, name: 'Payroll', scopes: [{ name: 'tools:call', description: 'Use the tools' }], allow_dynamic_clients: false,
    });
    await server.stores.users.create(ALICE);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('registers public code-flow clients as owner-less agents, refuses others, and rate-limits an address', async () => {
    const first = await register(server, registration({ principal_kind: 'app', agent_audiences: ['https://elsewhere.example'] }));
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] });
    expect(first.body).not.toHaveProperty('client_secret');
    const agent = await server.stores.agents.get(String(first.body.client_id));
    expect(agent).toMatchObject({ origin: 'dcr', ownerUserId: null, status: 'active', firstUsedAt: null });

    expect((await register(server, registration({ token_endpoint_auth_method: 'client_secret_basic' }))).body).toMatchObject({ error: 'invalid_client_metadata' });
    expect((await register(server, registration({ grant_types: ['client_credentials'] }))).body).toMatchObject({ error: 'invalid_client_metadata' });

    expect((await register(server, registration())).status).toBe(201);
    expect((await register(server, registration())).status).toBe(201);
    const limited = await register(server, registration());
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: 'rate_limited' });

    // The registered client signs a human in on any loopback port; its token names it as the acting agent.
    const clientId = String(first.body.client_id);
    const request = { clientId, redirectUri: 'http://127.0.0.1:43123/callback', scope: 'tools:call', resource: MCP };
    const tokens = await redeemCode(server.issuer, request, await authorizeThroughPages(server.issuer, request, ALICE));
    expect(tokens.status).toBe(200);
    expect(claimsOf(tokens.body.access_token!)).toMatchObject({ aud: MCP, client_id: clientId, act: { sub: clientId, sub_profile: 'ai_agent' } });
    expect((await server.stores.agents.get(clientId)).firstUsedAt).toBeInstanceOf(Date);

    // A resource closed to dynamic clients is out of its reach.
    const closed = await authorizeThroughPages(server.issuer, { ...request, resource: CLOSED }, ALICE).then(() => undefined, (error: unknown) => error);
    expect(String(closed)).toContain('invalid_target');

    // The kill switch reaches it like any agent.
    const { revoked } = await server.stores.revocation.suspendAgent(clientId, { actor: { kind: 'admin', id: 'test' } });
    expect(revoked).toBeGreaterThanOrEqual(1);
    await expect(authorizeThroughPages(server.issuer, request, ALICE)).rejects.toThrow();

    // Registrations never used expire; the used one stays.
    const sweeper = createDynamicClientStore(server.db.prisma, { defaultTokenTtl: 300 });
    expect(await sweeper.sweepUnused(new Date(Date.now() + 3 * 86_400_000))).toBe(2);
    await expect(server.stores.agents.get(clientId)).resolves.toMatchObject({ origin: 'dcr' });
  });
});
