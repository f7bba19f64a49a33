// Audit completeness for a scripted scenario over real HTTP: every issued token (client credentials, a human's
// token, an A → B → C delegation chain) has exactly one token.issued event naming the same chain, client, subject
// and parent as its record; refusals, revocations and the kill switch are there too, with who did them; and the
// whole log then verifies as an untampered chain.
import * as client from 'openid-client';
import { chainAuditEvents, deriveAuditKeys, verifyAuditChain } from '../../src/audit/audit-chain.js';
import { loadKek } from '../../src/keys/kek.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { API, jtiOf, world } from '../revocation/support.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
}, 60_000);
afterAll(async () => {
  await server.stop();
});

type Details = { jti?: string; parent_jti?: string | null; grant_type?: string; subject_kind?: string; scopes?: string[]; audience?: string };

it('every issued token has exactly one issuance event with the right chain; refusals and revocations are recorded', async () => {
  const w = world(server);
  await server.stores.resources.create({ identifier: API, name: 'Files', scopes: [{ name: 'files:read', description: 'Read' }, { name: 'files:write', description: 'Write' }] });
  const alice = (await server.stores.users.create({ username: 'alice', password: 'correct horse battery staple' })).id;
  const A = await w.agent('A', alice, [alice]);
  const B = await w.agent('B', alice, [alice]);
  const C = await w.agent('C', alice, [alice]);
  const E = await w.agent('E (never approved)', alice, []);

  // The script.
  const own = (await client.clientCredentialsGrant(await w.configFor(A), { scope: 'files:read', resource: API })).access_token;
  const chain = await w.chain(alice, A, B, C);
  expect(await w.refusedExchange(E, await w.humanToken(alice, E.id))).toBe('invalid_grant');
  await server.stores.revocation.revoke({ jti: jtiOf(chain.toC) }, { actor: { kind: 'admin', id: 'key-1' }, requestId: 'req-1', ip: '192.0.2.1' });
  await server.stores.revocation.suspendAgent(B.id, { actor: { kind: 'admin', id: 'key-1' } });

  const records = await server.db.prisma.issuedToken.findMany();
  const issuances = await server.db.prisma.auditEvent.findMany({ where: { action: 'token.issued' } });
  // own + E's human token + the chain's six tokens.
  expect(records).toHaveLength(8);
  expect(issuances).toHaveLength(records.length);
  for (const record of records) {
    const events = issuances.filter((e) => (e.details as Details).jti === record.jti);
    expect({ jti: record.jti, events: events.length }).toEqual({ jti: record.jti, events: 1 });
    const event = events[0]!;
    expect(event).toMatchObject({ outcome: 'success', clientId: record.clientId, actorChain: record.actorChain, userId: record.subjectKind === 'human' ? record.subject : null });
    expect(event.details).toMatchObject({ grant_type: record.grantType, subject_kind: record.subjectKind, scopes: record.scopes });
    expect((event.details as Details).parent_jti ?? null).toBe(record.parentJti);
  }
  const eventFor = (token: string) => issuances.find((e) => (e.details as Details).jti === jtiOf(token))!;
  expect(eventFor(own)).toMatchObject({ actorKind: 'agent', actorId: A.id, agentId: A.id, userId: null, requestId: expect.any(String), ip: expect.any(String) });
  expect(eventFor(chain.cAtApi)).toMatchObject({
    actorKind: 'agent',
    actorId: C.id,
    userId: alice,
    actorChain: [
      { sub: C.id, kind: 'agent' },
      { sub: B.id, kind: 'agent' },
      { sub: A.id, kind: 'agent' },
    ],
    details: expect.objectContaining({ parent_jti: jtiOf(chain.toC), grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange' }),
  });

  const refused = await server.db.prisma.auditEvent.findMany({ where: { action: 'token_exchange.refused' } });
  expect(refused).toEqual([expect.objectContaining({ outcome: 'failure', actorKind: 'agent', agentId: E.id, details: expect.objectContaining({ rule: 'no_approval' }) })]);
  const revocation = await server.db.prisma.auditEvent.findMany({ where: { action: 'revocation' } });
  expect(revocation).toEqual([
    expect.objectContaining({ actorKind: 'admin', actorId: 'key-1', requestId: 'req-1', ip: '192.0.2.1', details: expect.objectContaining({ target: { jti: jtiOf(chain.toC) }, tokens_revoked: 2 }) }),
  ]);
  const suspended = await server.db.prisma.auditEvent.findMany({ where: { action: 'agent.suspended' } });
  expect(suspended).toEqual([expect.objectContaining({ actorKind: 'admin', agentId: B.id, details: expect.objectContaining({ tokens_revoked: 2 }) })]);

  // Everything above is chained and verifies.
  const keys = deriveAuditKeys(await loadKek(server.config.kek, server.config.dataDir));
  // The server's own chainer may hold the lock for a moment: this pass must be the one that runs.
  while (!(await chainAuditEvents(server.db.pool, keys, { graceMs: 0 })).locked) await new Promise((resolve) => setTimeout(resolve, 50));
  const total = await server.db.prisma.auditEvent.count();
  expect(await verifyAuditChain(server.db.prisma, keys)).toMatchObject({ ok: true, eventsVerified: total, unchained: 0 });
}, 60_000);
