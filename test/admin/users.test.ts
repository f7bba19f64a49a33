// Human accounts through the admin API. Disabling or deleting a human revokes their approvals and tokens; deleting
// is refused while they own agents.
import { mintHumanToken } from '../support/tokens.js';
import {
  adminClient,
  API,
  approve,
  createAgent,
  createUser,
  exchangeToken,
  introspect,
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

/** A human with an approval for a fresh agent and a token that agent holds for them. */
async function delegatingHuman(username: string) {
  const human = await createUser(admin, username);
  const agent = await createAgent(admin, ownerId, `${username}'s agent`);
  const approval = await approve(admin, human.id, agent.id);
  const subject = await mintHumanToken(server, { userId: human.id, clientId: agent.id, resource: API, scopes: ['files:read'] });
  const token = await exchangeToken(server, agent, subject);
  return { human, agent, approval, token };
}

it('creates a human (password write-only, username case-insensitive) and reads it back', async () => {
  const created = await admin('POST', '/users', { username: 'Ada.Lovelace', password: 'correct horse battery staple', display_name: 'Ada' });
  expect(created.status).toBe(201);
  expect(created.body).toEqual({ id: expect.any(String), username: 'ada.lovelace', display_name: 'Ada', status: 'active', created_at: expect.any(String) });
  expect((await admin('GET', `/users/${created.body.id}`)).body).toEqual(created.body);
  expect(await server.stores.users.authenticate('ada.lovelace', 'correct horse battery staple')).toMatchObject({ id: created.body.id });
  const events = await admin('GET', `/audit?user_id=${created.body.id}`);
  expect(events.body.items).toEqual([expect.objectContaining({ action: 'user.created', actor_type: 'admin', details: { username: 'ada.lovelace' } })]);
  expect(JSON.stringify(events.body)).not.toContain('correct horse');
});

it('changes display name and password; the old password stops working', async () => {
  const human = await createUser(admin, 'changes-mind');
  const patched = await admin('PATCH', `/users/${human.id}`, { display_name: 'New Name', password: 'an entirely new passphrase' });
  expect(patched.status).toBe(200);
  expect(patched.body).toMatchObject({ display_name: 'New Name', status: 'active' });
  expect(await server.stores.users.authenticate('changes-mind', 'correct horse battery staple')).toBeUndefined();
  expect(await server.stores.users.authenticate('changes-mind', 'an entirely new passphrase')).toBeDefined();
  expect((await admin('PATCH', `/users/${human.id}`, { display_name: null })).body.display_name).toBeNull();
  const events = await admin('GET', `/audit?user_id=${human.id}&action=user.updated`);
  expect(events.body.items.map((e: { details: { fields: string[] } }) => e.details.fields)).toEqual([['display_name'], ['display_name', 'password']]);
});

it('disabling revokes the human’s approvals and tokens and refuses their login; re-enabling restores no approval', async () => {
  const { human, agent, approval, token } = await delegatingHuman('to-disable');
  expect((await introspect(server, agent, token)).active).toBe(true);

  const disabled = await admin('PATCH', `/users/${human.id}`, { status: 'disabled' });
  expect(disabled.status).toBe(200);
  expect(disabled.body.status).toBe('disabled');
  expect(await introspect(server, agent, token)).toEqual({ active: false });
  expect((await admin('GET', `/approvals/${approval.id}`)).body.status).toBe('revoked');
  expect((await admin('GET', `/tokens?user_id=${human.id}&active=true`)).body.items).toEqual([]);
  expect(await server.stores.users.authenticate('to-disable', 'correct horse battery staple')).toBeUndefined();

  const enabled = await admin('PATCH', `/users/${human.id}`, { status: 'active' });
  expect(enabled.body.status).toBe('active');
  expect((await admin('GET', `/approvals/${approval.id}`)).body.status).toBe('revoked');
  const actions = (await admin('GET', `/audit?user_id=${human.id}`)).body.items.map((e: { action: string }) => e.action);
  expect(actions.slice(0, 3)).toEqual(['user.enabled', 'revocation', 'user.disabled']);
});

it('refuses to delete a human who owns agents, and changes nothing', async () => {
  const owner = await createUser(admin, 'agent-owner');
  const agent = await createAgent(admin, owner.id, 'Owned agent');
  const approval = await approve(admin, owner.id, agent.id);

  const refused = await admin('DELETE', `/users/${owner.id}`);
  expect(refused.status).toBe(409);
  expect(refused.body).toMatchObject({ error: 'conflict', message: expect.stringMatching(/owns agents/) });
  expect((await admin('GET', `/users/${owner.id}`)).status).toBe(200);
  expect((await admin('GET', `/approvals/${approval.id}`)).body.status).toBe('active');
});

it('deletes a human: revokes their tokens first, keeps the token records and the audit trail', async () => {
  const { human, agent, approval, token } = await delegatingHuman('to-delete');
  const deleted = await admin('DELETE', `/users/${human.id}`);
  expect(deleted.status).toBe(200);
  expect(deleted.body).toEqual({ revoked: 2 });

  expect((await admin('GET', `/users/${human.id}`)).status).toBe(404);
  expect((await admin('GET', `/approvals/${approval.id}`)).status).toBe(404);
  expect(await introspect(server, agent, token)).toEqual({ active: false });
  const records = (await admin('GET', `/tokens?user_id=${human.id}`)).body.items;
  expect(records).toHaveLength(2);
  for (const record of records) expect(record.revoked_at).toEqual(expect.any(String));
  const actions = (await admin('GET', `/audit?user_id=${human.id}`)).body.items.map((e: { action: string }) => e.action);
  expect(actions.slice(0, 2)).toEqual(['user.deleted', 'revocation']);
  expect((await admin('DELETE', `/users/${human.id}`)).status).toBe(404);
});
