// Approvals through the admin API: an admin-provisioned delegation lets the agent act for the human (token
// exchange), is audited as such, is listed with filters, and DELETE revokes it with every token issued under it.
import { mintHumanToken } from '../support/tokens.js';
import {
  adminClient,
  API,
  approve,
  createAgent,
  createUser,
  exchangeToken,
  introspect,
  jtiOf,
  seed,
  startAdminServer,
  TOKEN_EXCHANGE,
  tokenRequest,
  type AdminCall,
  type AdminServer,
} from './support.js';

let server: AdminServer;
let admin: AdminCall;
let userId: string;

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  userId = (await seed(admin)).user.id;
});
afterAll(async () => {
  await server.stop();
});

const humanToken = (agentId: string, human = userId) => mintHumanToken(server, { userId: human, clientId: agentId, resource: API, scopes: ['files:read'] });

it('provisions a delegation with granted_via "admin", audited as the admin’s act', async () => {
  const agent = await createAgent(admin, userId, 'Provisioned agent');
  const before = Date.now();
  const created = await admin('POST', '/approvals', { user_id: userId, agent_id: agent.id, scopes: ['files:read'], resources: [API] });
  expect(created.status).toBe(201);
  expect(created.body).toEqual({
    id: expect.any(String),
    user_id: userId,
    agent_id: agent.id,
    scopes: ['files:read'],
    resources: [API],
    expires_at: expect.any(String),
    status: 'active',
    granted_via: 'admin',
    issuer: null,
    created_at: expect.any(String),
    revoked_at: null,
    revoked_reason: null,
  });
  // The configured default lifetime (30 days).
  expect(Date.parse(created.body.expires_at) - before).toBeGreaterThan(29 * 86_400_000);

  const explicit = await admin('POST', '/approvals', { user_id: userId, agent_id: agent.id, scopes: ['files:read'], resources: [API], expires_at: '2099-01-01T00:00:00+01:00' });
  expect(explicit.status).toBe(400); // more than the 90-day maximum away
  const soon = new Date(Date.now() + 3_600_000).toISOString();
  expect((await admin('POST', '/approvals', { user_id: userId, agent_id: agent.id, scopes: ['files:read'], resources: [API], expires_at: soon })).body.expires_at).toBe(soon);

  const events = await admin('GET', `/audit?action=approval.created&agent_id=${agent.id}`);
  expect(events.body.items).toHaveLength(2);
  expect(events.body.items[1]).toMatchObject({
    actor_type: 'admin',
    user_id: userId,
    agent_id: agent.id,
    details: { approval_id: created.body.id, granted_via: 'admin', scopes: ['files:read'], resources: [API] },
  });
});

it('lets the agent act for the human, and records the tokens under the approval', async () => {
  const agent = await createAgent(admin, userId, 'Acting agent');
  const subject = await humanToken(agent.id);
  const refused = await tokenRequest(server, agent, { grant_type: TOKEN_EXCHANGE, subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', resource: API });
  expect(refused.status).toBe(400); // no approval yet

  const approval = await approve(admin, userId, agent.id, ['files:read']);
  const token = await exchangeToken(server, agent, subject);
  const listed = await admin('GET', `/tokens?agent_id=${agent.id}&user_id=${userId}`);
  expect(listed.body.items.find((t: { jti: string }) => t.jti === jtiOf(token))).toMatchObject({ approval_id: approval.id, subject: userId, client_id: agent.id });
});

it('DELETE revokes the approval and every token issued under it; a second DELETE revokes nothing', async () => {
  const agent = await createAgent(admin, userId, 'Revoked agent');
  const approval = await approve(admin, userId, agent.id, ['files:read']);
  const subject = await humanToken(agent.id);
  const issued = [await exchangeToken(server, agent, subject), await exchangeToken(server, agent, subject)];
  for (const token of issued) expect((await introspect(server, agent, token)).active).toBe(true);

  const deleted = await admin('DELETE', `/approvals/${approval.id}`);
  expect(deleted.status).toBe(200);
  expect(deleted.body.revoked).toBe(2);
  expect(deleted.body.approval).toMatchObject({ id: approval.id, status: 'revoked', revoked_at: expect.any(String) });

  for (const token of issued) expect(await introspect(server, agent, token)).toEqual({ active: false });
  const records = await server.db.prisma.issuedToken.findMany({ where: { approvalId: approval.id } });
  expect(records).toHaveLength(2);
  for (const record of records) expect(record.revokedAt).toBeInstanceOf(Date);
  // The subject token was not issued under the approval: it lives on, but cannot be exchanged without one.
  expect((await introspect(server, agent, subject)).active).toBe(true);
  await expect(exchangeToken(server, agent, subject)).rejects.toThrow(/invalid_grant|approv/);

  const again = await admin('DELETE', `/approvals/${approval.id}`);
  expect(again.status).toBe(200);
  expect(again.body.revoked).toBe(0);

  // Audited once per call, by the revocation service, as this admin; nothing else names the revocation.
  const events = await admin('GET', '/audit?action=revocation&actor_type=admin&limit=200');
  const revocations = events.body.items.filter((e: { details: { target: { approvalId?: string } } }) => e.details.target.approvalId === approval.id);
  expect(revocations).toHaveLength(2);
  expect(revocations[1]).toMatchObject({ actor_type: 'admin', details: { tokens_revoked: 2, approvals_revoked: [approval.id] } });
  expect(revocations[0]).toMatchObject({ details: { tokens_revoked: 0, approvals_revoked: [] } });
  const agentEvents = await admin('GET', `/audit?agent_id=${agent.id}&limit=200`);
  expect(agentEvents.body.items.filter((e: { action: string }) => /approval\.(revoked|deleted)/.test(e.action))).toEqual([]);
});

it('lists approvals by user, agent and status (active, revoked, expired)', async () => {
  const other = await createUser(admin, 'filter-human');
  const agentA = await createAgent(admin, userId, 'Filter agent A');
  const agentB = await createAgent(admin, userId, 'Filter agent B');
  const active = await approve(admin, userId, agentA.id);
  const revoked = await approve(admin, other.id, agentA.id);
  const expired = await approve(admin, other.id, agentB.id);
  await admin('DELETE', `/approvals/${revoked.id}`);
  // Time passes for this one: its expiry moves into the past.
  await server.db.prisma.approval.update({ where: { id: expired.id }, data: { expiresAt: new Date(Date.now() - 1000) } });

  const ids = async (query: string) => ((await admin('GET', `/approvals?${query}`)).body.items as Array<{ id: string }>).map((a) => a.id).sort();
  expect(await ids(`agent_id=${agentA.id}`)).toEqual([active.id, revoked.id].sort());
  expect(await ids(`user_id=${other.id}`)).toEqual([revoked.id, expired.id].sort());
  expect(await ids(`user_id=${other.id}&status=revoked`)).toEqual([revoked.id]);
  expect(await ids(`user_id=${other.id}&status=expired`)).toEqual([expired.id]);
  expect(await ids(`user_id=${other.id}&status=active`)).toEqual([]);
  expect(await ids(`agent_id=${agentA.id}&status=active`)).toEqual([active.id]);
  expect(await ids(`agent_id=${agentB.id}&user_id=${userId}`)).toEqual([]);
  expect((await admin('GET', `/approvals/${expired.id}`)).body.status).toBe('expired');
});
