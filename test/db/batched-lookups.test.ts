// The token endpoint's batched lookups (clients, resources, standing approvals, stored payloads, an exchange's facts) against a real
// database: concurrent callers sharing a query each get their own answer, and state changed by another connection
// (suspension, withdrawal, revocation) shows at the very next lookup, since nothing is cached.
import { createClientLookupStore } from '../../src/clients/client-lookup-store.js';
import { createStandingApprovalStore } from '../../src/approvals/standing-approval-store.js';
import { createPayloadStore } from '../../src/oauth/payload-store.js';
import { createResourceStore } from '../../src/resources/resource-store.js';
import { createExchangeFactsStore } from '../../src/tokens/exchange-facts-store.js';
import { createIssuedTokenStore } from '../../src/tokens/issued-token-store.js';
import { startTestServer, type TestServer } from '../support/server.js';

const A = 'https://a.example.test';
const B = 'https://b.example.test';
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await server.stores.resources.create({ identifier: A, name: 'A', scopes: [{ name: 'a:read', description: 'Read A' }] });
  await server.stores.resources.create({ identifier: B, name: 'B', scopes: [{ name: 'b:read', description: 'Read B' }] });
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

it('answers concurrent client lookups each with its own client, and a suspended agent with nothing at its next lookup', async () => {
  const lookup = createClientLookupStore(server.db.pool, { maxInFlight: 1 });
  const human = await server.stores.users.create({ username: 'owner', password: 'owner password 123' });
  const agents = await Promise.all(
    ['one', 'two', 'three'].map((name) =>
      server.stores.agents.create({ name, ownerUserId: human.id, scopes: ['a:read'], audiences: [A], tokenEndpointAuthMethod: 'client_secret_basic' }),
    ),
  );
  const app = await server.stores.clients.createApp({ name: 'app', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic' });
  const ids = [...agents.map((a) => a.agent.id), app.clientId, 'no-such-client'];
  const found = await Promise.all(ids.map((id) => lookup.findMetadata(id)));
  expect(found.map((m) => m?.client_id)).toEqual([...ids.slice(0, 4), undefined]);
  expect(found.slice(0, 3).map((m) => m?.principal_kind)).toEqual(['agent', 'agent', 'agent']);
  expect(found[3]).toMatchObject({ principal_kind: 'app' });
  // The fast path answers exactly what the client registry answers.
  for (const id of ids) expect(await lookup.findMetadata(id)).toEqual(await server.stores.clients.findMetadata(id));

  await server.stores.revocation.suspendAgent(agents[1]!.agent.id, { actor: { kind: 'admin', id: 'test' } });
  const after = await Promise.all(ids.map((id) => lookup.findMetadata(id)));
  expect(after.map((m) => m?.client_id)).toEqual([ids[0], undefined, ids[2], ids[3], undefined]);
});

it('answers concurrent resource lookups each with its own resource, and a changed resource at its next lookup', async () => {
  const resources = createResourceStore(server.db.prisma, server.db.pool);
  const found = await Promise.all([A, B, 'https://unknown.example.test', A].map((id) => resources.findByIdentifier(id)));
  expect(found.map((r) => r?.identifier)).toEqual([A, B, undefined, A]);
  await server.stores.resources.update(found[1]!.id, { access_token_ttl: 120 });
  expect((await resources.findByIdentifier(B))?.accessTokenTtl).toBe(120);
});

it('answers concurrent standing-approval lookups each with its own approvals, and a withdrawn approval at its next lookup', async () => {
  const store = createStandingApprovalStore(server.db.pool, { maxInFlight: 1 });
  const human = await server.stores.users.create({ username: 'approver', password: 'approver password 123' });
  const { agent } = await server.stores.agents.create({ name: 'approved', ownerUserId: human.id, scopes: ['a:read', 'b:read'], audiences: [A, B], tokenEndpointAuthMethod: 'client_secret_basic' });
  const atA = await server.stores.approvals.create({ userId: human.id, agentId: agent.id, scopes: ['a:read'], resources: [A], grantedVia: 'admin' });
  const atB = await server.stores.approvals.create({ userId: human.id, agentId: agent.id, scopes: ['b:read'], resources: [B], grantedVia: 'admin' });
  const [forA, forB, foreign, malformed] = await Promise.all([
    store.standing(human.id, agent.id, A),
    store.standing(human.id, agent.id, B),
    store.standing(human.id, 'another-agent', A),
    store.standing('not-a-uuid', agent.id, A),
  ]);
  expect(forA.map((a) => a.id)).toEqual([atA.id]);
  expect(forB.map((a) => a.id)).toEqual([atB.id]);
  const stored = await server.stores.approvals.get(atA.id);
  expect(forA[0]).toEqual({
    id: stored.id, userId: stored.userId, agentId: stored.agentId, scopes: stored.scopes, resources: stored.resources, expiresAt: stored.expiresAt,
    status: 'active', grantedVia: 'admin', grantId: null, createdAt: stored.createdAt, revokedAt: null, revokedReason: null,
  });
  expect(foreign).toEqual([]);
  expect(malformed).toEqual([]);

  await server.stores.revocation.revoke({ approvalId: atA.id }, { actor: { kind: 'admin', id: 'test' } });
  expect(await store.standing(human.id, agent.id, A)).toEqual([]);
  expect((await store.standing(human.id, agent.id, B)).map((a) => a.id)).toEqual([atB.id]);
});

it('answers concurrent payload lookups each with its own payload, never an expired one', async () => {
  const payloads = createPayloadStore(server.db.pool, { maxInFlight: 1 });
  await server.db.pool.query(
    `INSERT INTO oidc_payloads (model, id, payload, expires_at) VALUES
       ('AccessToken', 'live', '{"jti":"live"}', now() + interval '5 minutes'),
       ('AccessToken', 'expired', '{"jti":"expired"}', now() - interval '1 second'),
       ('Grant', 'live', '{"jti":"grant"}', NULL)`,
  );
  const found = await Promise.all([
    payloads.find('AccessToken', 'live'), payloads.find('AccessToken', 'expired'), payloads.find('Grant', 'live'), payloads.find('Session', 'live'),
  ]);
  expect(found.map((p) => (p?.payload as { jti?: string } | undefined)?.jti)).toEqual(['live', undefined, 'grant', undefined]);
});

it("reads an exchange's facts in one statement: each caller its record, target resource and approvals, and a revocation or withdrawal at its next read", async () => {
  const facts = createExchangeFactsStore(server.db.pool, { maxInFlight: 1 });
  const human = await server.stores.users.create({ username: 'delegator', password: 'delegator password 123' });
  const { agent } = await server.stores.agents.create({ name: 'exchanger', ownerUserId: human.id, scopes: ['a:read', 'b:read'], audiences: [A, B], tokenEndpointAuthMethod: 'client_secret_basic' });
  const older = await server.stores.approvals.create({ userId: human.id, agentId: agent.id, scopes: ['a:read'], resources: [A], grantedVia: 'admin' });
  const newer = await server.stores.approvals.create({ userId: human.id, agentId: agent.id, scopes: ['a:read', 'b:read'], resources: [A, B], grantedVia: 'admin' });
  // Records as the token recorder writes them: a human's token for A, an app's own token for B, a human-kind record
  // whose subject is not a uuid (it must not fail the shared statement).
  await server.db.pool.query(
    `INSERT INTO issued_tokens (jti, kind, format, subject, subject_kind, actor_chain, client_id, scopes, audience, resource, grant_type, issued_at, expires_at)
     VALUES ('human-a', 'access_token', 'jwt', $1, 'human', '[]', $2, '{a:read}', $3, $3, 'authorization_code', now(), now() + interval '5 minutes'),
            ('app-b', 'access_token', 'jwt', 'some-app', 'app', '[]', 'some-app', '{b:read}', $4, $4, 'client_credentials', now(), now() + interval '5 minutes'),
            ('odd-human', 'access_token', 'jwt', 'not-a-uuid', 'human', '[]', $2, '{a:read}', $3, $3, 'authorization_code', now(), now() + interval '5 minutes')`,
    [human.id, agent.id, A, B],
  );
  const [named, fromRecord, other, app, odd, unknown] = await Promise.all([
    facts.find({ jti: 'human-a', resource: B, agentId: agent.id }),
    facts.find({ jti: 'human-a', resource: undefined, agentId: agent.id }),
    facts.find({ jti: 'human-a', resource: A, agentId: 'another-agent' }),
    facts.find({ jti: 'app-b', resource: undefined, agentId: agent.id }),
    facts.find({ jti: 'odd-human', resource: undefined, agentId: agent.id }),
    facts.find({ jti: 'no-such-jti', resource: A, agentId: agent.id }),
  ]);
  // The record is the issued-token store's own answer for that jti.
  expect(named.record).toEqual(await createIssuedTokenStore(server.db.pool).find('human-a'));
  expect(named).toMatchObject({ identifier: B, resource: { identifier: B, name: 'B' } });
  expect(named.approvals.map((a) => a.id)).toEqual([newer.id]);
  expect(named.approvals[0]).toEqual({ id: newer.id, agentId: agent.id, scopes: ['a:read', 'b:read'], resources: [A, B], expiresAt: newer.expiresAt });
  // No resource named: the token's own; approvals newest first.
  expect(fromRecord).toMatchObject({ identifier: A, resource: { identifier: A } });
  expect(fromRecord.approvals.map((a) => a.id)).toEqual([newer.id, older.id]);
  expect(other.approvals).toEqual([]);
  expect(app).toMatchObject({ identifier: B, approvals: [] });
  expect(app.record?.subjectKind).toBe('app');
  expect(odd).toMatchObject({ identifier: A, approvals: [] });
  expect(unknown).toEqual({ record: undefined, identifier: A, resource: expect.objectContaining({ identifier: A }), approvals: [] });
  // A resource nobody registered: no resource, no approvals.
  expect(await facts.find({ jti: 'human-a', resource: 'https://unknown.example.test', agentId: agent.id })).toMatchObject({ resource: undefined, approvals: [] });

  await server.stores.revocation.revoke({ approvalId: newer.id }, { actor: { kind: 'admin', id: 'test' } });
  await server.stores.revocation.revoke({ jti: 'human-a' }, { actor: { kind: 'admin', id: 'test' } });
  const after = await facts.find({ jti: 'human-a', resource: undefined, agentId: agent.id });
  expect(after.approvals.map((a) => a.id)).toEqual([older.id]);
  expect(after.record?.revokedAt).toBeInstanceOf(Date);
});
