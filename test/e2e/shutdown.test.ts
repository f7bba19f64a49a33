// Shutting down while requests are being handled: even requests whose clients have gone finish before the
// database pool closes, so nothing fails half-way with "pool ended" server errors.
import { Writable } from 'node:stream';
import autocannon from 'autocannon';
import { startTestServer } from '../support/server.js';

it('lets abandoned in-flight token requests finish before releasing the database', async () => {
  const lines: string[] = [];
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const server = await startTestServer({ logs, env: { LOG_LEVEL: 'warn' } });
  await server.stores.resources.create({ identifier: 'https://api.example.test', name: 'API', scopes: [{ name: 'r', description: 'Read' }] });
  const app = await server.stores.clients.createApp({ name: 'App', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic', resources: ['https://api.example.test'], scopes: ['r'] });
  const authorization = `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`;

  // Steady load from 32 connections; when it ends, the load tool drops its connections with requests still being
  // handled, and the server is told to stop at that very moment.
  await autocannon({
    url: `${server.issuer}/token`,
    method: 'POST',
    connections: 32,
    duration: 1,
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.test&scope=r',
  });
  await server.stop();

  const errors = lines.map((line) => JSON.parse(line) as { level: string; msg: string }).filter((entry) => entry.level === 'error');
  expect(errors).toEqual([]);
});
