// Introspection (RFC 7662) and revocation (RFC 7009) through oidc-provider's own endpoints, for opaque tokens and
// for this server's JWT access tokens (which the provider refuses by default): active → revoked → inactive.
import * as client from 'openid-client';
import { SignJWT, generateKeyPair } from 'jose';
import { startTestServer, type TestServer } from '../support/server.js';

const API = 'https://api.example.test';
let server: TestServer;
let app: { clientId: string; clientSecret?: string };
let other: { clientId: string; clientSecret?: string };
let api: { clientId: string; clientSecret?: string };

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: API, name: 'Example API', scopes: [{ name: 'files:read', description: 'Read your files' }] });
  const cc = { redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic' as const };
  const ceilings = { resources: [API], scopes: ['files:read'] };
  app = await server.stores.clients.createApp({ name: 'App', ...cc, ...ceilings });
  other = await server.stores.clients.createApp({ name: 'Other app', ...cc, ...ceilings });
  api = await server.stores.clients.createApp({ name: 'Example API (resource server)', ...cc, resourceServer: API });
});
afterAll(async () => {
  await server.stop();
});

const configFor = (c: { clientId: string; clientSecret?: string }) =>
  client.discovery(new URL(server.issuer), c.clientId, undefined, client.ClientSecretBasic(c.clientSecret!), { execute: [client.allowInsecureRequests] });

async function jwtFor(c = app): Promise<string> {
  return (await client.clientCredentialsGrant(await configFor(c), { scope: 'files:read', resource: API })).access_token;
}

describe.each([
  ['a JWT access token', () => jwtFor()],
  ['an opaque access token', async () => (await client.clientCredentialsGrant(await configFor(app), {})).access_token],
])('%s', (_label, issue) => {
  it('is active, then inactive once its client revokes it, and its record says revoked', async () => {
    const token = await issue();
    const config = await configFor(app);
    const active = await client.tokenIntrospection(config, token);
    expect(active).toMatchObject({ active: true, client_id: app.clientId, sub: app.clientId, iss: server.issuer });

    await client.tokenRevocation(config, token);

    await expect(client.tokenIntrospection(config, token)).resolves.toEqual({ active: false });
    const revoked = await server.db.prisma.issuedToken.findMany({ where: { clientId: app.clientId, revokedAt: { not: null } } });
    expect(revoked.length).toBeGreaterThan(0);
  });
});

it('tells the resource server a JWT issued for it is active, with scope, audience and subject kind', async () => {
  const token = await jwtFor();
  const result = await client.tokenIntrospection(await configFor(api), token);
  expect(result).toMatchObject({ active: true, aud: API, scope: 'files:read', client_id: app.clientId, sub_profile: 'service', token_type: 'Bearer' });
});

it('tells an unrelated client nothing about another client’s token', async () => {
  const token = await jwtFor();
  await expect(client.tokenIntrospection(await configFor(other), token)).resolves.toEqual({ active: false });
});

it('does not let another client revoke a token', async () => {
  const token = await jwtFor();
  await client.tokenRevocation(await configFor(other), token).catch(() => undefined);
  await expect(client.tokenIntrospection(await configFor(app), token)).resolves.toMatchObject({ active: true });
});

it('reports a forged JWT (valid shape, foreign key) as inactive', async () => {
  const genuine = JSON.parse(Buffer.from((await jwtFor()).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  const { privateKey } = await generateKeyPair('ES256');
  const forged = await new SignJWT(genuine).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(privateKey);
  await expect(client.tokenIntrospection(await configFor(app), forged)).resolves.toEqual({ active: false });
});

it('answers malformed introspection requests with RFC 6749 errors, never 500', async () => {
  const auth = `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`;
  const post = (body: string | Buffer, contentType = 'application/x-www-form-urlencoded') =>
    fetch(`${server.issuer}/token/introspection`, { method: 'POST', headers: { authorization: auth, 'content-type': contentType }, body });

  const missing = await post('');
  expect(missing.status).toBe(400);
  expect(await missing.json()).toMatchObject({ error: 'invalid_request' });

  const oversized = await post(`token=${'a'.repeat(60 * 1024)}`);
  expect(oversized.status).toBe(413);
  expect(await oversized.json()).toMatchObject({ error: 'invalid_request' });

  const duplicated = await post('token=a&token=b');
  expect(duplicated.status).toBe(400);
  expect(await duplicated.json()).toMatchObject({ error: 'invalid_request' });

  const json = await post('{"token":"x"}', 'application/json');
  expect(json.status).toBeLessThan(500);
});
