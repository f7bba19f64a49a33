// POST /admin/v1/revocations by each selector: it answers how many tokens it revoked, the tokens stop working at
// introspection, a second call answers 0, and each call is audited once as the admin's act.
import { mintHumanToken } from '../support/tokens.js';
import {
  adminClient,
  agentToken,
  API,
  approve,
  createAgent,
  createUser,
  exchangeToken,
  introspect,
  jtiOf,
  seed,
  startAdminServer,
  type AdminCall,
  type AdminServer,
} from './support.js';

let server: AdminServer;
let admin: AdminCall;
let ownerId: string;

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  ownerId = (await seed(admin)).user.id;
});
afterAll(async () => {
  await server.stop();
});

type Agent = { id: string; client_secret: string };

/** A token the agent holds for the human, obtained by token exchange under a fresh admin approval. */
async function actingFor(agent: Agent, userId: string): Promise<string> {
  const subject = await mintHumanToken(server, { userId, clientId: agent.id, resource: API, scopes: ['files:read'] });
  return exchangeToken(server, agent, subject);
}

async function revoke(body: Record<string, string>) {
  const response = await admin('POST', '/revocations', body);
  expect(response.status).toBe(200);
  return response.body.revoked as number;
}

async function activeCount(query: string): Promise<number> {
  return (await admin('GET', `/tokens?${query}&active=true&limit=200`)).body.items.length;
}

it('{jti}: revokes that token; again: 0', async () => {
  const agent = await createAgent(admin, ownerId, 'jti agent');
  const [token, bystander] = [await agentToken(server, agent), await agentToken(server, agent)];
  expect(await revoke({ jti: jtiOf(token) })).toBe(1);
  expect(await introspect(server, agent, token)).toEqual({ active: false });
  expect((await introspect(server, agent, bystander)).active).toBe(true);
  expect(await revoke({ jti: jtiOf(token) })).toBe(0);
  expect(await revoke({ jti: 'no-such-token' })).toBe(0);
});

it('{agent_id}: revokes every token of the agent, and its approvals; again: 0', async () => {
  const agent = await createAgent(admin, ownerId, 'agent-wide agent');
  const approval = await approve(admin, ownerId, agent.id);
  const tokens = [await agentToken(server, agent), await agentToken(server, agent), await actingFor(agent, ownerId)];
  const expected = await activeCount(`agent_id=${agent.id}`);
  expect(expected).toBeGreaterThanOrEqual(3);

  expect(await revoke({ agent_id: agent.id })).toBe(expected);
  for (const token of tokens) expect(await introspect(server, agent, token)).toEqual({ active: false });
  expect((await admin('GET', `/approvals/${approval.id}`)).body.status).toBe('revoked');
  // Not a kill switch: the agent itself stays active and may get new tokens.
  expect((await introspect(server, agent, await agentToken(server, agent))).active).toBe(true);
  expect(await revoke({ agent_id: agent.id })).toBe(1);
  expect(await revoke({ agent_id: agent.id })).toBe(0);
});

it('{user_id}: revokes every token standing for the human, whichever agent holds it; again: 0', async () => {
  const human = await createUser(admin, 'revoked-human');
  const [a, b] = [await createAgent(admin, ownerId, 'user agent A'), await createAgent(admin, ownerId, 'user agent B')];
  await approve(admin, human.id, a.id);
  await approve(admin, human.id, b.id);
  const tokens = [await actingFor(a, human.id), await actingFor(b, human.id)];
  const agentsOwn = await agentToken(server, a);
  const expected = await activeCount(`user_id=${human.id}`);
  expect(expected).toBe(4); // two subject tokens and two exchanged ones

  expect(await revoke({ user_id: human.id })).toBe(expected);
  expect(await introspect(server, a, tokens[0]!)).toEqual({ active: false });
  expect(await introspect(server, b, tokens[1]!)).toEqual({ active: false });
  expect((await introspect(server, a, agentsOwn)).active).toBe(true);
  expect((await admin('GET', `/approvals?user_id=${human.id}&status=active`)).body.items).toEqual([]);
  expect(await revoke({ user_id: human.id })).toBe(0);
});

it('{agent_id, user_id}: revokes only what that agent holds for that human; again: 0', async () => {
  const human = await createUser(admin, 'pair-human');
  const [a, b] = [await createAgent(admin, ownerId, 'pair agent A'), await createAgent(admin, ownerId, 'pair agent B')];
  await approve(admin, human.id, a.id);
  const approvalB = await approve(admin, human.id, b.id);
  const fromA = await actingFor(a, human.id);
  const fromB = await actingFor(b, human.id);

  expect(await revoke({ agent_id: a.id, user_id: human.id })).toBe(2); // A's subject token and its exchanged token
  expect(await introspect(server, a, fromA)).toEqual({ active: false });
  expect((await introspect(server, b, fromB)).active).toBe(true);
  expect((await admin('GET', `/approvals/${approvalB.id}`)).body.status).toBe('active');
  expect(await revoke({ agent_id: a.id, user_id: human.id })).toBe(0);
});

it('{approval_id}: revokes the tokens issued under it; again: 0', async () => {
  const agent = await createAgent(admin, ownerId, 'approval agent');
  const approval = await approve(admin, ownerId, agent.id);
  const token = await actingFor(agent, ownerId);
  expect(await revoke({ approval_id: approval.id })).toBe(1);
  expect(await introspect(server, agent, token)).toEqual({ active: false });
  expect(await revoke({ approval_id: approval.id })).toBe(0);
});

it('audits each call once, as the admin', async () => {
  const agent = await createAgent(admin, ownerId, 'audited revocations');
  const before = (await admin('GET', `/audit?action=revocation&agent_id=${agent.id}`)).body.items.length;
  await revoke({ agent_id: agent.id });
  await revoke({ agent_id: agent.id });
  const events = (await admin('GET', `/audit?action=revocation&agent_id=${agent.id}`)).body.items;
  expect(events).toHaveLength(before + 2);
  const keyId = (await admin('GET', '/admin-keys')).body.items[0].id;
  for (const event of events) expect(event).toMatchObject({ actor_type: 'admin', actor_id: keyId, request_id: expect.any(String) });
});
