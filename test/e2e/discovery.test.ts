// The server's public face: discovery documents (OIDC and RFC 8414), the JWKS they point at, health endpoints.
import { createLocalJWKSet } from 'jose';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${server.url}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

describe('discovery', () => {
  it('serves OpenID Connect discovery naming the issuer and its endpoints', async () => {
    const { status, body } = await getJson('/.well-known/openid-configuration');
    expect(status).toBe(200);
    expect(body.issuer).toBe(server.issuer);
    expect(body.jwks_uri).toBe(`${server.issuer}/jwks`);
    expect(body.token_endpoint).toBe(`${server.issuer}/token`);
    expect(body.authorization_endpoint).toBe(`${server.issuer}/auth`);
    expect(body.code_challenge_methods_supported).toEqual(['S256']);
    expect(body.response_types_supported).toEqual(['code']);
    // client_secret_jwt needs the plaintext secret, which is never stored.
    expect(body.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['private_key_jwt', 'client_secret_basic']));
    expect(body.token_endpoint_auth_methods_supported).not.toContain('client_secret_jwt');
    expect(body.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange']),
    );
    expect(body.grant_types_supported).not.toContain('implicit');
    expect(body.authorization_response_iss_parameter_supported).toBe(true);
    expect(body.introspection_endpoint).toBe(`${server.issuer}/token/introspection`);
    expect(body.revocation_endpoint).toBe(`${server.issuer}/token/revocation`);
    expect(body.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256']));
  });

  it('serves the same metadata at the RFC 8414 well-known location', async () => {
    const oidc = await getJson('/.well-known/openid-configuration');
    const rfc8414 = await getJson('/.well-known/oauth-authorization-server');
    expect(rfc8414.status).toBe(200);
    expect(rfc8414.body).toEqual(oidc.body);
  });

  it('publishes the current and the next ES256 signing key, without private parts', async () => {
    const { status, body } = await getJson('/jwks');
    expect(status).toBe(200);
    const keys = body.keys as Array<Record<string, unknown>>;
    expect(keys).toHaveLength(2);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: expect.any(String) });
      expect(key).not.toHaveProperty('d');
    }
    expect(() => createLocalJWKSet(body as never)).not.toThrow();
  });
});

describe('health', () => {
  it('answers /healthz and /readyz while the database is up', async () => {
    await expect(getJson('/healthz')).resolves.toMatchObject({ status: 200, body: { status: 'ok' } });
    await expect(getJson('/readyz')).resolves.toMatchObject({ status: 200, body: { status: 'ready' } });
  });

  it('gives every response a request id, echoing a well-formed inbound one', async () => {
    const own = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'trace-abc-12345' } });
    expect(own.headers.get('x-request-id')).toBe('trace-abc-12345');
    const bad = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'no spaces <allowed>' } });
    expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gives every response the default security headers: the token endpoint, discovery, health and the admin API', async () => {
    const responses = await Promise.all([
      fetch(`${server.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' }),
      fetch(`${server.url}/.well-known/openid-configuration`),
      fetch(`${server.url}/healthz`),
      fetch(`${server.url}/admin/v1/agents`),
    ]);
    expect(responses.map((r) => r.status)).toEqual([400, 200, 200, 401]);
    for (const response of responses) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      // oidc-provider may append script hashes to the empty script-src; nothing else loosens the policy.
      expect(response.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src[^;]*; frame-ancestors 'none'$/);
    }
  });
});

describe('protected resource metadata (RFC 9728)', () => {
  it('publishes the document for a registered resource server', async () => {
    await server.stores.resources.create({
      identifier: 'https://mail.example.test',
      name: 'Mail',
      scopes: [{ name: 'mail:send', description: 'Send mail as you', requires_approval: true }],
    });
    const { status, body } = await getJson(`/resource-metadata?resource=${encodeURIComponent('https://mail.example.test')}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      resource: 'https://mail.example.test',
      authorization_servers: [server.issuer],
      scopes_supported: ['mail:send'],
      bearer_methods_supported: ['header'],
    });
    // RFC 9728's resource_signing_alg_values_supported is about the resource's own signed responses, which this
    // server knows nothing of: not claimed on its behalf.
    expect(body).not.toHaveProperty('resource_signing_alg_values_supported');
  });

  it('answers 404 invalid_target for an unknown resource and 400 without one', async () => {
    await expect(getJson(`/resource-metadata?resource=${encodeURIComponent('https://nope.example.test')}`)).resolves.toMatchObject({
      status: 404,
      body: { error: 'invalid_target' },
    });
    await expect(getJson('/resource-metadata')).resolves.toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });
});
