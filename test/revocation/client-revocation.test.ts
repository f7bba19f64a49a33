// A client revoking its own token (RFC 7009) goes through the same cascade as an admin revocation: tokens derived
// from it down a delegation chain stop too, and the revocation is on the record with the client as the actor.
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintHumanToken } from '../support/tokens.js';

const API = 'https://files.example.test';
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

it('revoking a subject token at /token/revocation also revokes what was exchanged from it', async () => {
  await server.stores.resources.create({ identifier: API, name: 'Files', scopes: [{ name: 'files:read', description: 'Read your files' }] });
  const human = await server.stores.users.create({ username: 'carol', password: 'correct horse battery staple' });
  const { agent, clientSecret } = await server.stores.agents.create({
    name: 'Agent', ownerUserId: human.id, scopes: ['files:read'], audiences: [API], tokenEndpointAuthMethod: 'client_secret_basic',
  });
  await server.stores.approvals.create({ userId: human.id, agentId: agent.id, scopes: ['files:read'], resources: [API], grantedVia: 'admin' });
  const config = await client.discovery(new URL(server.issuer), agent.id, undefined, client.ClientSecretBasic(clientSecret!), {
    execute: [client.allowInsecureRequests],
  });
  const subject = await mintHumanToken(server, { userId: human.id, clientId: agent.id, resource: API, scopes: ['files:read'] });
  const derived = await client.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
    subject_token: subject,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    resource: API,
  });
  await expect(client.tokenIntrospection(config, derived.access_token)).resolves.toMatchObject({ active: true });

  await client.tokenRevocation(config, subject);

  await expect(client.tokenIntrospection(config, subject)).resolves.toEqual({ active: false });
  await expect(client.tokenIntrospection(config, derived.access_token)).resolves.toEqual({ active: false });
  const record = await server.db.prisma.issuedToken.findUnique({ where: { jti: decodeJwt(derived.access_token).jti! } });
  expect(record).toMatchObject({ revocationReason: 'revoked by its client', revokedAt: expect.any(Date) });
  const events = await server.db.prisma.auditEvent.findMany({ where: { action: 'revocation', actorId: agent.id } });
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ actorKind: 'agent', details: expect.objectContaining({ tokens_revoked: 2 }) });
});
