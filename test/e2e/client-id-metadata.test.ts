// MCP-style clients with nothing registered by hand: a Client ID Metadata Document served over HTTPS (a throw-away
// CA, trusted by the agentauth process through NODE_EXTRA_CA_CERTS) is the whole registration. The client becomes an
// agent without an owner, runs the code flow on any loopback port (RFC 8252 §7.3, native clients), is visible in the
// admin API, and suspending it or denying its domain revokes its tokens at once.
import { randomBytes } from 'node:crypto';
import type { ServerProcess } from '../support/process.js';
import type { TestDatabase } from '../support/postgres-server.js';
import { freePort } from '../support/server.js';
import { spawnServerTrusting, startDocumentServer, type DocumentServer } from '../support/metadata-documents.js';
import { AuthorizationRefused, authorizeThroughPages, claimsOf, redeemCode } from '../support/public-client-flow.js';

const MCP = 'https://mcp.example.test/mcp';
const ADMIN_KEY = `aa_ak_${randomBytes(32).toString('base64url')}`;
const ALICE = { username: 'alice', password: 'correct horse battery staple' };
let database: TestDatabase;
let documents: DocumentServer;
let server: ServerProcess;
let issuer: string;
let nativeClient: string;

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${issuer}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const nativeDocument = (clientId: string) => ({
  client_id: clientId,
  client_name: 'Terminal Assistant',
  application_type: 'native',
  redirect_uris: ['http://127.0.0.1/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
});

beforeAll(async () => {
  documents = await startDocumentServer();
  ({ database, server, issuer } = await spawnServerTrusting(documents, ADMIN_KEY, 'cimd'));
  expect((await admin('POST', '/users', ALICE)).status).toBe(201);
  const resource = await admin('POST', '/resources', {
    identifier: 'HTTPS://MCP.Example.test:443/mcp/',
    name: 'Example MCP server',
    scopes: [{ name: 'tools:call', description: 'Use the tools' }],
  });
  expect(resource.body).toMatchObject({ identifier: MCP, allow_dynamic_clients: true });
  nativeClient = documents.publish('/clients/terminal.json', nativeDocument(`${documents.origin}/clients/terminal.json`));
}, 120_000);
afterAll(async () => {
  await server?.terminate();
  await documents?.close();
  await database?.drop();
});

/** When the token's record says it was revoked (null: live). */
async function revokedAt(jti: string): Promise<string | null | undefined> {
  const list = await admin('GET', `/tokens?agent_id=${encodeURIComponent(nativeClient)}&limit=100`);
  return (list.body.items as Array<{ jti: string; revoked_at: string | null }>).find((item) => item.jti === jti)?.revoked_at;
}

const request = (redirectPort: number, clientId = nativeClient) => ({
  clientId,
  redirectUri: `http://127.0.0.1:${redirectPort}/callback`,
  scope: 'tools:call',
  resource: MCP,
});

it('advertises Client ID Metadata Document support and public clients in discovery, with CORS', async () => {
  const response = await fetch(`${issuer}/.well-known/oauth-authorization-server`, { headers: { origin: 'https://inspector.example' } });
  const metadata = (await response.json()) as Record<string, unknown>;
  expect(metadata.client_id_metadata_document_supported).toBe(true);
  expect(metadata.token_endpoint_auth_methods_supported).toContain('none');
  expect(response.headers.get('access-control-allow-origin')).toBe('https://inspector.example');
  const prm = await fetch(`${issuer}/resource-metadata?resource=${encodeURIComponent(MCP)}`, { headers: { origin: 'https://inspector.example' } });
  expect(prm.headers.get('access-control-allow-origin')).toBe('*');
  expect(await prm.json()).toMatchObject({ resource: MCP, authorization_servers: [issuer] });
});

it('lets a native client that only published a metadata document sign a human in on two different loopback ports', async () => {
  for (const port of [await freePort(), await freePort()]) {
    const authorized = await authorizeThroughPages(issuer, request(port), ALICE);
    // The consent page says plainly who describes the client, where the answer goes, and that it is loopback only.
    expect(authorized.consentHtml).toContain(new URL(nativeClient).host);
    expect(authorized.consentHtml).toContain(`127.0.0.1`);
    expect(authorized.consentHtml).toContain('loopback-warning');
    const tokens = await redeemCode(issuer, request(port), authorized);
    expect(tokens.status).toBe(200);
    expect(claimsOf(tokens.body.access_token!)).toMatchObject({
      aud: MCP,
      client_id: nativeClient,
      scope: 'tools:call',
      sub_profile: 'user',
      act: { sub: nativeClient, sub_profile: 'ai_agent' },
    });
  }
  // The document is cached per its Cache-Control: one fetch served both flows.
  expect(documents.fetches('/clients/terminal.json')).toBe(1);
});

it('keeps every other redirect exact: another path on a loopback host is refused', async () => {
  const wrongPath = { ...request(await freePort()), redirectUri: `http://127.0.0.1:${await freePort()}/elsewhere` };
  const refused = await authorizeThroughPages(issuer, wrongPath, ALICE).then(() => undefined, (error: unknown) => error);
  expect(refused).toBeInstanceOf(AuthorizationRefused);
  expect((refused as AuthorizationRefused).message).toContain('redirect_uri');
});

it('records the client as an agent without an owner, with first and last use and the humans who approved it', async () => {
  const agent = await admin('GET', `/agents/${encodeURIComponent(nativeClient)}`);
  expect(agent.status).toBe(200);
  expect(agent.body).toMatchObject({ id: nativeClient, origin: 'cimd', owner_user_id: null, status: 'active', token_endpoint_auth_method: 'none' });
  expect(agent.body.first_used_at).toEqual(expect.any(String));
  expect(agent.body.last_used_at).toEqual(expect.any(String));
  expect(agent.body.approved_by).toHaveLength(1);
  const listed = await admin('GET', '/agents?origin=cimd');
  expect((listed.body.items as Array<{ id: string }>).map((item) => item.id)).toEqual([nativeClient]);
});

it('suspending the client revokes its tokens at once and refuses it until activated', async () => {
  const port = await freePort();
  const tokens = await redeemCode(issuer, request(port), await authorizeThroughPages(issuer, request(port), ALICE));
  const jti = claimsOf(tokens.body.access_token!).jti as string;
  const suspended = await admin('POST', `/agents/${encodeURIComponent(nativeClient)}/suspend`);
  expect(suspended.status).toBe(200);
  expect(suspended.body.revoked).toBeGreaterThanOrEqual(1);
  expect(await revokedAt(jti)).toEqual(expect.any(String));
  await expect(authorizeThroughPages(issuer, request(await freePort()), ALICE)).rejects.toBeInstanceOf(AuthorizationRefused);
  expect((await admin('POST', `/agents/${encodeURIComponent(nativeClient)}/activate`)).status).toBe(200);
});

it('denying the client domain revokes what its agents hold and refuses them; removing the rule lets them back', async () => {
  const port = await freePort();
  const tokens = await redeemCode(issuer, request(port), await authorizeThroughPages(issuer, request(port), ALICE));
  const jti = claimsOf(tokens.body.access_token!).jti as string;
  const denied = await admin('POST', '/client-domains', { domain: '127.0.0.1', rule: 'deny' });
  expect(denied.status).toBe(200);
  expect(denied.body).toMatchObject({ domain: '127.0.0.1', rule: 'deny', agents_affected: [nativeClient] });
  expect(denied.body.tokens_revoked).toBeGreaterThanOrEqual(1);
  expect(await revokedAt(jti)).toEqual(expect.any(String));
  await expect(authorizeThroughPages(issuer, request(await freePort()), ALICE)).rejects.toBeInstanceOf(AuthorizationRefused);
  expect((await admin('DELETE', '/client-domains/127.0.0.1')).status).toBe(200);
  const back = await authorizeThroughPages(issuer, request(await freePort()), ALICE).catch((error: unknown) => error);
  expect(back).toMatchObject({ code: expect.any(String) });
});

it('refuses a document whose client_id is not its own URL, or that claims a secret', async () => {
  const liar = documents.publish('/clients/liar.json', nativeDocument('https://someone-else.example/client.json'));
  await expect(authorizeThroughPages(issuer, request(await freePort(), liar), ALICE)).rejects.toBeInstanceOf(AuthorizationRefused);
  const secretive = documents.publish('/clients/secret.json', { ...nativeDocument(`${documents.origin}/clients/secret.json`), token_endpoint_auth_method: 'client_secret_basic' });
  await expect(authorizeThroughPages(issuer, request(await freePort(), secretive), ALICE)).rejects.toBeInstanceOf(AuthorizationRefused);
});
