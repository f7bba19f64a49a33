// Client credentials through a real OAuth client (openid-client): an app gets an RFC 9068 JWT for a registered
// resource server, verifiable against the published JWKS, and every token issued leaves a record and an audit event.
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let app: { clientId: string; clientSecret?: string };
const API = 'https://api.example.test';

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({
    identifier: API,
    name: 'Example API',
    scopes: [
      { name: 'files:read', description: 'Read your files' },
      { name: 'files:write', description: 'Change your files' },
    ],
    access_token_ttl: 120,
  });
  app = await server.stores.clients.createApp({
    name: 'Batch job',
    redirectUris: [],
    grantTypes: ['client_credentials'],
    authMethod: 'client_secret_basic',
    resources: [API],
    scopes: ['files:read', 'files:write'],
  });
});
afterAll(async () => {
  await server.stop();
});

async function configuration(secret = app.clientSecret!): Promise<client.Configuration> {
  return client.discovery(new URL(server.issuer), app.clientId, undefined, client.ClientSecretBasic(secret), {
    execute: [client.allowInsecureRequests],
  });
}

it('issues an at+jwt access token for the requested resource, signed by a published key', async () => {
  const config = await configuration();
  const tokens = await client.clientCredentialsGrant(config, { scope: 'files:read', resource: API });

  expect(tokens.token_type.toLowerCase()).toBe('bearer');
  expect(tokens.expires_in).toBeLessThanOrEqual(120);
  expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
  const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: server.issuer, audience: API, typ: 'at+jwt' });
  expect(payload).toMatchObject({ sub: app.clientId, client_id: app.clientId, scope: 'files:read', sub_profile: 'service' });
  expect(payload.exp! - payload.iat!).toBe(120);
  expect(payload).not.toHaveProperty('act');
});

it('records the token and its issuance before answering', async () => {
  const config = await configuration();
  const tokens = await client.clientCredentialsGrant(config, { scope: 'files:write', resource: API });
  const { jti } = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as { jti: string };

  const record = await server.db.prisma.issuedToken.findUnique({ where: { jti } });
  expect(record).toMatchObject({
    kind: 'access_token',
    format: 'jwt',
    subject: app.clientId,
    subjectKind: 'app',
    clientId: app.clientId,
    scopes: ['files:write'],
    audience: API,
    grantType: 'client_credentials',
    revokedAt: null,
  });
  const events = await server.db.prisma.auditEvent.findMany({ where: { action: 'token.issued' } });
  const mine = events.filter((e) => (e.details as { jti?: string }).jti === jti);
  expect(mine).toHaveLength(1);
  expect(mine[0]).toMatchObject({ actorKind: 'app', actorId: app.clientId, clientId: app.clientId, outcome: 'success' });
});

it('refuses an unregistered resource with invalid_target', async () => {
  const config = await configuration();
  await expect(client.clientCredentialsGrant(config, { scope: 'files:read', resource: 'https://unknown.example.test' })).rejects.toMatchObject({
    error: 'invalid_target',
  });
});

it('refuses a scope the resource server does not define', async () => {
  const config = await configuration();
  await expect(client.clientCredentialsGrant(config, { scope: 'admin:everything', resource: API })).rejects.toMatchObject({
    error: 'invalid_scope',
  });
});

it('refuses a wrong client secret with invalid_client', async () => {
  const response = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}x`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'files:read', resource: API }),
  });
  expect(response.status).toBe(401);
  expect(await response.json()).toMatchObject({ error: 'invalid_client' });
});

it('stores the client secret only as a keyed hash', async () => {
  const row = await server.db.prisma.client.findUnique({ where: { id: app.clientId } });
  expect(row?.secretHash).toMatch(/^hmac-sha256:/);
  expect(JSON.stringify(row)).not.toContain(app.clientSecret);
});

it('binds the token to a DPoP key when the client sends a proof (RFC 9449)', async () => {
  const config = await configuration();
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const tokens = await client.clientCredentialsGrant(config, { scope: 'files:read', resource: API }, { DPoP: client.getDPoPHandle(config, keyPair) });
  expect(tokens.token_type.toLowerCase()).toBe('dpop');
  const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: server.issuer, audience: API });
  const { calculateJwkThumbprint, exportJWK } = await import('jose');
  expect(payload.cnf).toEqual({ jkt: await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)) });
  const record = await server.db.prisma.issuedToken.findUnique({ where: { jti: payload.jti! } });
  expect(record?.dpopJkt).toBe((payload.cnf as { jkt: string }).jkt);
});
