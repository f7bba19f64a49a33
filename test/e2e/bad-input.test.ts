// Bad input at the OAuth endpoints gets the standard error (RFC 6749 §4.1.2.1 / §5.2), never a 500 or a stack trace.
import { startTestServer, type TestServer } from '../support/server.js';

const API = 'https://api.example.test';
let server: TestServer;
let web: { clientId: string; clientSecret?: string };
let basic: string;

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: API, name: 'Example API', scopes: [{ name: 'files:read', description: 'Read your files' }] });
  web = await server.stores.clients.createApp({
    name: 'Web app',
    redirectUris: ['https://app.example.test/callback'],
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
    authMethod: 'client_secret_basic',
    resources: [API],
    scopes: ['files:read'],
  });
  basic = `Basic ${Buffer.from(`${web.clientId}:${web.clientSecret}`).toString('base64')}`;
});
afterAll(async () => {
  await server.stop();
});

async function token(body: string | Buffer, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic, ...headers },
    body,
  });
  const text = await response.text();
  expect(text).not.toMatch(/at .*\.(js|ts):\d+/); // no stack traces
  return { status: response.status, body: JSON.parse(text) as { error?: string; error_description?: string } };
}

function authorize(params: Record<string, string>) {
  const url = new URL(`${server.issuer}/auth`);
  url.search = new URLSearchParams({ client_id: web.clientId, response_type: 'code', scope: 'openid', ...params }).toString();
  return fetch(url, { redirect: 'manual' });
}

describe('token endpoint', () => {
  it('unknown client: invalid_client', async () => {
    const result = await token('grant_type=client_credentials', { authorization: `Basic ${Buffer.from('nobody:secret').toString('base64')}` });
    expect(result).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('wrong secret: invalid_client', async () => {
    const result = await token('grant_type=client_credentials', { authorization: `Basic ${Buffer.from(`${web.clientId}:wrong`).toString('base64')}` });
    expect(result).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('unsupported grant type: unsupported_grant_type', async () => {
    expect(await token('grant_type=password&username=a&password=b')).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
  });

  it('missing grant_type: invalid_request', async () => {
    expect(await token('scope=files:read')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it('unknown authorization code: invalid_grant', async () => {
    const result = await token(
      'grant_type=authorization_code&code=made-up&redirect_uri=https%3A%2F%2Fapp.example.test%2Fcallback&code_verifier=' + 'a'.repeat(43),
    );
    expect(result).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('unknown refresh token: invalid_grant', async () => {
    expect(await token('grant_type=refresh_token&refresh_token=made-up')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('malformed body: invalid_request', async () => {
    const result = await token(Buffer.from([0x25, 0xff, 0x3d, 0x00, 0x26, 0x26]));
    expect(result.status).toBe(400);
    expect(['invalid_request', 'unsupported_grant_type']).toContain(result.body.error);
  });

  it('oversized body: 413 invalid_request, not a crash', async () => {
    const result = await token(`grant_type=client_credentials&scope=${'x'.repeat(100 * 1024)}`);
    expect(result.status).toBe(413);
    expect(result.body.error).toBe('invalid_request');
  });

  it('JSON instead of a form: invalid_request', async () => {
    const result = await token('{"grant_type":"client_credentials"}', { 'content-type': 'application/json' });
    expect(result.status).toBe(400);
    expect(result.body.error).toBe('invalid_request');
  });
});

describe('authorization endpoint', () => {
  const challenge = { code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };

  it('refuses a request without PKCE, back at the registered redirect URI', async () => {
    const response = await authorize({ redirect_uri: 'https://app.example.test/callback', state: 's1' });
    expect(response.status).toBe(303);
    const location = new URL(response.headers.get('location')!);
    expect(location.origin + location.pathname).toBe('https://app.example.test/callback');
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
    expect(location.searchParams.get('iss')).toBe(server.issuer);
  });

  it('refuses PKCE "plain"', async () => {
    const response = await authorize({ redirect_uri: 'https://app.example.test/callback', code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' });
    const location = new URL(response.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('invalid_request');
  });

  it('never redirects to a redirect URI that is not registered exactly', async () => {
    for (const redirect of ['https://app.example.test/callback/', 'https://app.example.test/callback?x=1', 'https://evil.example.test/callback']) {
      const response = await authorize({ redirect_uri: redirect, ...challenge });
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(await response.text()).toContain('redirect_uri');
    }
  });

  it('refuses the implicit flow', async () => {
    const response = await authorize({ redirect_uri: 'https://app.example.test/callback', response_type: 'token', ...challenge });
    const location = new URL(response.headers.get('location')!);
    expect(location.searchParams.get('error') ?? new URLSearchParams(location.hash.slice(1)).get('error')).toBe('unsupported_response_type');
  });

  it('refuses an unregistered resource with invalid_target', async () => {
    const response = await authorize({ redirect_uri: 'https://app.example.test/callback', resource: 'https://unknown.example.test', ...challenge });
    const location = new URL(response.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('invalid_target');
  });

  it('unknown client: an error page, no redirect', async () => {
    const url = new URL(`${server.issuer}/auth`);
    url.search = new URLSearchParams({ client_id: 'nobody', response_type: 'code', redirect_uri: 'https://evil.example.test/', ...challenge }).toString();
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
  });
});

describe('the record of refusals', () => {
  it('audits refused authorization and token requests with the error that refused them', async () => {
    await authorize({ redirect_uri: 'https://app.example.test/callback', state: 'audited' });
    await token('grant_type=refresh_token&refresh_token=made-up-for-audit');
    const deadline = Date.now() + 5_000;
    let actions: string[] = [];
    while (Date.now() < deadline) {
      const events = await server.db.prisma.auditEvent.findMany({ where: { action: { in: ['authorization.refused', 'token.refused'] } } });
      actions = events.map((e) => `${e.action}:${(e.details as { error?: string }).error}`);
      if (actions.includes('authorization.refused:invalid_request') && actions.includes('token.refused:invalid_grant')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(actions).toEqual(expect.arrayContaining(['authorization.refused:invalid_request', 'token.refused:invalid_grant']));
  });
});
