// @agentauth/verify against a real agentauth server: tokens from client credentials and from a human's delegation
// to an agent are verified with the published JWKS; what is wrong is refused with the status and WWW-Authenticate
// challenge a resource server must answer; DPoP-bound tokens need a matching proof; introspection catches a
// revocation at once; the Koa and Express middlewares answer over real HTTP.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import Koa from 'koa';
import express from 'express';
import * as client from 'openid-client';
import { challenge, createVerifier, expressMiddleware, koaMiddleware, VerifyError, type AgentAuthVerifier } from '@agentauth/verify';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintHumanToken } from '../support/tokens.js';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
const API = 'https://files.example.test/mcp';
const METADATA = 'https://files.example.test/.well-known/oauth-protected-resource/mcp';
let server: TestServer;
let app: { clientId: string; clientSecret?: string };
let rs: { clientId: string; clientSecret?: string };
let agentId: string;
let alice: string;
let verifier: AgentAuthVerifier;

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({
    identifier: API,
    name: 'Files',
    scopes: [
      { name: 'files:read', description: 'Read your files' },
      { name: 'files:write', description: 'Change your files' },
    ],
  });
  const cc = { redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic' as const };
  app = await server.stores.clients.createApp({ name: 'Batch', ...cc, resources: [API], scopes: ['files:read', 'files:write'] });
  rs = await server.stores.clients.createApp({ name: 'Files (resource server)', ...cc, resourceServer: API });
  alice = (await server.stores.users.create({ username: 'alice', password: 'correct horse battery staple' })).id;
  agentId = (
    await server.stores.agents.create({
      name: 'Mail agent',
      ownerUserId: alice,
      scopes: ['files:read'],
      audiences: [API],
      tokenEndpointAuthMethod: 'client_secret_basic',
    })
  ).agent.id;
  verifier = createVerifier({
    issuer: server.issuer,
    audience: API,
    resourceMetadataUrl: METADATA,
    introspection: { clientId: rs.clientId, clientSecret: rs.clientSecret! },
  });
});
afterAll(async () => {
  await server.stop();
});

async function appToken(scope = 'files:read', resource = API): Promise<string> {
  const config = await client.discovery(new URL(server.issuer), app.clientId, undefined, client.ClientSecretBasic(app.clientSecret!), {
    execute: [client.allowInsecureRequests],
  });
  return (await client.clientCredentialsGrant(config, { scope, resource })).access_token;
}

const request = (authorization: string | undefined, extra: { dpop?: string; method?: string; url?: string } = {}) => ({
  method: extra.method ?? 'POST',
  url: extra.url ?? `${API}?x=1`,
  authorization,
  dpop: extra.dpop,
});

async function refusal(promise: Promise<unknown>): Promise<VerifyError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof VerifyError)) throw new Error(`expected a VerifyError, got ${String(error)}`);
  return error;
}

it('says who acts for whom: a human, through the agent, with the approved scopes', async () => {
  const token = await mintHumanToken(server, { userId: alice, clientId: agentId, resource: API, scopes: ['files:read'] });
  const access = await verifier.verify(request(`Bearer ${token}`), { scopes: ['files:read'] });
  expect(access).toMatchObject({ human: alice, agents: [agentId], scopes: ['files:read'], client_id: agentId });
  expect(access.token.aud).toBe(API);
});

it('says an app acting for itself is no human and no agent', async () => {
  const access = await verifier.verify(request(`Bearer ${await appToken()}`));
  expect(access).toMatchObject({ human: null, agents: [], client_id: app.clientId, scopes: ['files:read'] });
});

it('refuses a missing, malformed, foreign or mis-addressed token with invalid_token and the metadata URL', async () => {
  const missing = await refusal(verifier.verify(request(undefined)));
  expect(missing.status).toBe(401);
  expect(challenge(verifier.options, missing)).toBe(`Bearer resource_metadata="${METADATA}"`);

  const garbage = await refusal(verifier.verify(request('Bearer not.a.jwt')));
  expect([garbage.code, garbage.status]).toEqual(['invalid_token', 401]);

  const { privateKey } = await generateKeyPair('ES256');
  const forged = await new SignJWT({ client_id: 'x', scope: 'files:read' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'forged' })
    .setIssuer(server.issuer).setAudience(API).setSubject('x').setIssuedAt().setExpirationTime('1m').setJti('j')
    .sign(privateKey);
  expect((await refusal(verifier.verify(request(`Bearer ${forged}`)))).code).toBe('invalid_token');

  const elsewhere = createVerifier({ issuer: server.issuer, audience: 'https://other.example.test' });
  const wrongAudience = await refusal(elsewhere.verify(request(`Bearer ${await appToken()}`)));
  expect(wrongAudience.code).toBe('invalid_token');
  expect(wrongAudience.message).toContain('aud');
});

it('answers insufficient_scope with 403 and the scope the call needs', async () => {
  const error = await refusal(verifier.verify(request(`Bearer ${await appToken('files:read')}`), { scopes: ['files:write'] }));
  expect([error.code, error.status, error.scope]).toEqual(['insufficient_scope', 403, 'files:read files:write']);
  expect(challenge(verifier.options, error)).toBe(
    `Bearer error="insufficient_scope", error_description="this call needs files:write", scope="files:read files:write", resource_metadata="${METADATA}"`,
  );
});

describe('a DPoP-bound token', () => {
  let token: string;
  let keys: KeyPair;
  let publicJwk: Record<string, unknown>;

  beforeAll(async () => {
    keys = await generateKeyPair('ES256');
    publicJwk = { ...(await exportJWK(keys.publicKey)) };
    token = await mintHumanToken(server, { userId: alice, clientId: agentId, resource: API, scopes: ['files:read'], jkt: await calculateJwkThumbprint(publicJwk) });
  });

  async function proof(overrides: { htm?: string; htu?: string; ath?: string; key?: KeyPair; jwk?: Record<string, unknown>; iat?: number } = {}) {
    const ath = overrides.ath ?? Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))).toString('base64url');
    return new SignJWT({ htm: overrides.htm ?? 'POST', htu: overrides.htu ?? API, ath, jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: overrides.jwk ?? publicJwk })
      .setIssuedAt(overrides.iat ?? Math.floor(Date.now() / 1000))
      .sign((overrides.key ?? keys).privateKey);
  }

  it('is accepted with a proof by its key for this request, once', async () => {
    const dpop = await proof();
    const access = await verifier.verify(request(`DPoP ${token}`, { dpop }));
    expect(access.token.cnf?.jkt).toBe(await calculateJwkThumbprint(publicJwk));
    const replayed = await refusal(verifier.verify(request(`DPoP ${token}`, { dpop })));
    expect(replayed.message).toContain('already used');
  });

  it('is refused as a bearer token, without a proof, or with a proof for another method, URL, token or key', async () => {
    expect((await refusal(verifier.verify(request(`Bearer ${token}`)))).code).toBe('invalid_token');
    const bare = await refusal(verifier.verify(request(`DPoP ${token}`)));
    expect([bare.code, challenge(verifier.options, bare).startsWith('DPoP ')]).toEqual(['invalid_dpop_proof', true]);
    expect((await refusal(verifier.verify(request(`DPoP ${token}`, { dpop: await proof({ htm: 'GET' }) })))).message).toContain('method');
    expect((await refusal(verifier.verify(request(`DPoP ${token}`, { dpop: await proof({ htu: 'https://files.example.test/other' }) })))).message).toContain('URL');
    expect((await refusal(verifier.verify(request(`DPoP ${token}`, { dpop: await proof({ ath: 'x' }) })))).message).toContain('another access token');
    const other = await generateKeyPair('ES256');
    const otherProof = await proof({ key: other, jwk: { ...(await exportJWK(other.publicKey)) } });
    expect((await refusal(verifier.verify(request(`DPoP ${token}`, { dpop: otherProof })))).message).toContain('another key');
    const stale = await proof({ iat: Math.floor(Date.now() / 1000) - 600 });
    expect((await refusal(verifier.verify(request(`DPoP ${token}`, { dpop: stale })))).message).toContain('fresh');
  });
});

it('asks introspection when told to, and then refuses a token revoked a moment ago', async () => {
  const token = await appToken();
  await expect(verifier.verify(request(`Bearer ${token}`), { introspect: true })).resolves.toMatchObject({ client_id: app.clientId });
  const { payload } = { payload: JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string } };
  await server.stores.revocation.revoke({ jti: payload.jti }, { actor: { kind: 'admin', id: 'test' } });
  await expect(verifier.verify(request(`Bearer ${token}`))).resolves.toBeDefined(); // the signature alone still verifies
  const revoked = await refusal(verifier.verify(request(`Bearer ${token}`), { introspect: true }));
  expect([revoked.code, revoked.message]).toEqual(['invalid_token', 'the access token was revoked']);
});

describe('middlewares over HTTP', () => {
  async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
    const listener = http.createServer(handler);
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}/mcp`, close: () => new Promise((resolve) => listener.close(() => resolve())) };
  }

  const koaApp = () => {
    const koa = new Koa();
    koa.use(koaMiddleware(verifier, { scopes: ['files:read'] }) as unknown as Koa.Middleware);
    koa.use((ctx) => {
      ctx.body = { human: (ctx.state.agentauth as { human: string }).human };
    });
    return koa.callback();
  };
  const expressApp = () => {
    const app = express();
    app.use(expressMiddleware(verifier, { scopes: ['files:read'] }) as unknown as express.RequestHandler);
    app.use((req, res) => {
      res.json({ human: (req as unknown as { agentauth: { human: string } }).agentauth.human });
    });
    return app as unknown as http.RequestListener;
  };

  it.each([
    ['Koa', koaApp],
    ['Express', expressApp],
  ])('%s: 401 with a challenge without a token, 200 naming the human with one', async (_name, build) => {
    const listener = await serve(build());
    try {
      const anonymous = await fetch(listener.url, { method: 'POST' });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${METADATA}"`);
      const token = await mintHumanToken(server, { userId: alice, clientId: agentId, resource: API, scopes: ['files:read'] });
      const allowed = await fetch(listener.url, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(allowed.status).toBe(200);
      expect(await allowed.json()).toEqual({ human: alice });
      const tooLittle = await fetch(listener.url, { method: 'POST', headers: { authorization: `Bearer ${await appToken('files:write')}` } });
      expect(tooLittle.status).toBe(403);
      expect(tooLittle.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    } finally {
      await listener.close();
    }
  });
});
