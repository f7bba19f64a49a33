// The structured log tells what happened (one line per request, with its request id) and never carries a secret:
// no client secret, token, code or password reaches it, even at debug level.
import { Writable } from 'node:stream';
import * as client from 'openid-client';
import { startTestServer, type TestServer } from '../support/server.js';

const API = 'https://api.example.test';
let server: TestServer;
const lines: string[] = [];

beforeAll(async () => {
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  server = await startTestServer({ env: { LOG_LEVEL: 'debug' }, logs });
});
afterAll(async () => {
  await server.stop();
});

it('logs each request with its id and no secrets or tokens', async () => {
  await server.stores.resources.create({ identifier: API, name: 'API', scopes: [{ name: 'files:read', description: 'Read files' }] });
  const app = await server.stores.clients.createApp({ name: 'App', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_post', resources: [API], scopes: ['files:read'] });
  const config = await client.discovery(new URL(server.issuer), app.clientId, undefined, client.ClientSecretPost(app.clientSecret!), {
    execute: [client.allowInsecureRequests],
  });
  const { access_token: accessToken } = await client.clientCredentialsGrant(config, { scope: 'files:read', resource: API });
  await client.tokenIntrospection(config, accessToken);
  await fetch(`${server.issuer}/auth?client_id=${app.clientId}&code=secret-code-value&state=xyz`, { redirect: 'manual' });

  const requests = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'request');
  expect(requests.find((entry) => entry.path === '/token')).toMatchObject({ method: 'POST', status: 200, request_id: expect.any(String) });
  const all = lines.join('\n');
  for (const secret of [app.clientSecret!, accessToken, accessToken.split('.')[2]!, 'secret-code-value']) {
    expect(all).not.toContain(secret);
  }
});
