// One spelling per resource server: identifiers are canonical (lower-case scheme and host, no default port, no
// trailing `/` on the path) when registered, and any spelling in a request finds the resource while the token
// carries the registered form.
import * as client from 'openid-client';
import { canonicalResourceIdentifier } from '../../src/resources/resource-identifier.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('canonicalResourceIdentifier', () => {
  it.each([
    ['HTTPS://MCP.Example.com:443/mcp/', 'https://mcp.example.com/mcp'],
    ['https://api.example.com/', 'https://api.example.com'],
    ['http://api.example.com:80/v1//', 'http://api.example.com/v1'],
    ['http://API.example.com:8080/v1/?tenant=A', 'http://api.example.com:8080/v1?tenant=A'],
    ['https://api.example.com/Case/Kept', 'https://api.example.com/Case/Kept'],
    ['urn:example:resource', 'urn:example:resource'],
  ])('%s → %s', (input, canonical) => {
    expect(canonicalResourceIdentifier(input)).toBe(canonical);
  });

  it.each(['https://api.example.com/#frag', 'not a url', ''])('refuses %j', (input) => {
    expect(canonicalResourceIdentifier(input)).toBeUndefined();
  });
});

describe('registration and requests', () => {
  let server: TestServer;
  let app: { clientId: string; clientSecret?: string };
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${server.issuer}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${server.config.bootstrapAdminKey}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    }).then(async (response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> }));

  beforeAll(async () => {
    server = await startTestServer();
    app = await server.stores.clients.createApp({
      name: 'Batch', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic',
      resources: ['https://notes.example.test/api'], scopes: ['notes:read'],
    });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('stores the canonical form through the admin API, refuses the same resource in another spelling, and lets admins close it to dynamic clients', async () => {
    const created = await admin('POST', '/resources', { identifier: 'HTTPS://Notes.Example.test:443/api/', name: 'Notes', scopes: [{ name: 'notes:read', description: 'Read notes' }] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ identifier: 'https://notes.example.test/api', allow_dynamic_clients: true });
    expect((await admin('POST', '/resources', { identifier: 'https://notes.example.test/api/', name: 'Again' })).status).toBe(409);
    const closed = await admin('PATCH', `/resources/${String(created.body.id)}`, { allow_dynamic_clients: false });
    expect(closed.body).toMatchObject({ allow_dynamic_clients: false });
    expect(await server.stores.resources.openToDynamicClients()).not.toContain('https://notes.example.test/api');
  });

  it('finds the resource for any spelling at the token endpoint and issues the token for the registered form', async () => {
    const config = await client.discovery(new URL(server.issuer), app.clientId, undefined, client.ClientSecretBasic(app.clientSecret!), {
      execute: [client.allowInsecureRequests],
    });
    for (const spelling of ['https://NOTES.example.test/api/', 'https://notes.example.test:443/api']) {
      const tokens = await client.clientCredentialsGrant(config, { scope: 'notes:read', resource: spelling });
      const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as { aud: string };
      expect(claims.aud).toBe('https://notes.example.test/api');
    }
  });

  it('stores agents’ audiences in the registered form', async () => {
    const owner = await server.stores.users.create({ username: 'owner', password: 'correct horse battery staple' });
    const { agent } = await server.stores.agents.create({
      name: 'Reader', ownerUserId: owner.id, scopes: ['notes:read'], audiences: ['HTTPS://notes.example.test/api/'], tokenEndpointAuthMethod: 'client_secret_basic',
    });
    expect(agent.audiences).toEqual(['https://notes.example.test/api']);
  });
});
