// Human accounts through the admin API. Disabling or deleting a human revokes their approvals and tokens; deleting
// is refused while they own agents. External identities (accounts at trusted issuers, for ID-JAGs) are written with
// the account: issuers trusted for id_jag only, each pair naming one human.
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
  expect(created.body).toEqual({ id: expect.any(String), username: 'ada.lovelace', display_name: 'Ada', status: 'active', external_identities: [], created_at: expect.any(String) });
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

describe('external identities', () => {
  const IDP = 'https://idp.users-test.example.com';
  const PLATFORM = 'https://platform.users-test.example.com';
  const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] };

  beforeAll(async () => {
    expect((await admin('POST', '/trusted-issuers', { issuer: IDP, jwks, purposes: ['id_jag'] })).status).toBe(201);
    expect((await admin('POST', '/trusted-issuers', { issuer: PLATFORM, jwks, purposes: ['workload'] })).status).toBe(201);
  });

  const newUser = (username: string, external_identities?: unknown) =>
    admin('POST', '/users', { username, password: 'correct horse battery staple', ...(external_identities !== undefined ? { external_identities } : {}) });

  it('links a new human to accounts at a trusted identity provider, shown in reads and lists and audited', async () => {
    const created = await newUser('grace', [{ issuer: IDP, subject: 'grace@corp' }, { issuer: IDP, subject: '00u1' }]);
    expect(created.status).toBe(201);
    expect(created.body.external_identities).toEqual([{ issuer: IDP, subject: '00u1' }, { issuer: IDP, subject: 'grace@corp' }]);
    expect((await admin('GET', `/users/${created.body.id}`)).body).toEqual(created.body);
    const listed = (await admin('GET', '/users?limit=200')).body.items.find((user: { id: string }) => user.id === created.body.id);
    expect(listed).toEqual(created.body);
    const events = await admin('GET', `/audit?user_id=${created.body.id}&action=user.created`);
    expect(events.body.items[0].details.external_identities).toHaveLength(2);
  });

  it('replaces the whole list on PATCH, and [] removes every link', async () => {
    const user = (await newUser('hopper', [{ issuer: IDP, subject: 'hopper-1' }])).body;
    const replaced = await admin('PATCH', `/users/${user.id}`, { external_identities: [{ issuer: IDP, subject: 'hopper-2' }] });
    expect(replaced.status).toBe(200);
    expect(replaced.body.external_identities).toEqual([{ issuer: IDP, subject: 'hopper-2' }]);
    // The old pair is free again: another human may take it.
    expect((await newUser('hopper-twin', [{ issuer: IDP, subject: 'hopper-1' }])).status).toBe(201);
    const events = await admin('GET', `/audit?user_id=${user.id}&action=user.updated`);
    expect(events.body.items[0].details.fields).toEqual(['external_identities']);
    const cleared = await admin('PATCH', `/users/${user.id}`, { external_identities: [] });
    expect(cleared.body.external_identities).toEqual([]);
    expect((await admin('GET', `/users/${user.id}`)).body.external_identities).toEqual([]);
    // Other changes leave the list alone.
    await admin('PATCH', `/users/${user.id}`, { external_identities: [{ issuer: IDP, subject: 'hopper-3' }] });
    expect((await admin('PATCH', `/users/${user.id}`, { display_name: 'Grace Hopper' })).body.external_identities).toEqual([{ issuer: IDP, subject: 'hopper-3' }]);
  });

  it('answers 409 for a pair linked to another human, and writes nothing', async () => {
    const first = (await newUser('linus', [{ issuer: IDP, subject: 'shared' }])).body;
    const taken = await newUser('linus-copy', [{ issuer: IDP, subject: 'shared' }]);
    expect(taken.status).toBe(409);
    expect(taken.body.error).toBe('conflict');
    expect((await admin('GET', '/users?limit=200')).body.items.map((user: { username: string }) => user.username)).not.toContain('linus-copy');
    const other = (await newUser('margaret', [{ issuer: IDP, subject: 'margaret' }])).body;
    const patched = await admin('PATCH', `/users/${other.id}`, { display_name: 'Margaret', external_identities: [{ issuer: IDP, subject: 'shared' }] });
    expect(patched.status).toBe(409);
    const after = (await admin('GET', `/users/${other.id}`)).body;
    expect(after).toMatchObject({ display_name: null, external_identities: [{ issuer: IDP, subject: 'margaret' }] });
    expect((await admin('GET', `/users/${first.id}`)).body.external_identities).toEqual([{ issuer: IDP, subject: 'shared' }]);
  });

  it('refuses an issuer that is not trusted, or not trusted for id_jag, naming the entry', async () => {
    const untrusted = await newUser('mallory', [{ issuer: IDP, subject: 'ok' }, { issuer: 'https://unknown.example.com', subject: 'x' }]);
    expect(untrusted.status).toBe(400);
    expect(untrusted.body.details).toEqual([{ path: 'external_identities.1.issuer', message: expect.stringContaining('not a trusted issuer') }]);
    const workloadOnly = await newUser('mallory', [{ issuer: PLATFORM, subject: 'x' }]);
    expect(workloadOnly.status).toBe(400);
    expect(workloadOnly.body.details).toEqual([{ path: 'external_identities.0.issuer', message: expect.stringContaining('not trusted for id_jag') }]);
    expect((await admin('GET', '/users?limit=200')).body.items.map((user: { username: string }) => user.username)).not.toContain('mallory');
    const user = (await newUser('trent')).body;
    const patched = await admin('PATCH', `/users/${user.id}`, { external_identities: [{ issuer: PLATFORM, subject: 'x' }] });
    expect(patched.status).toBe(400);
    expect(patched.body.details[0].path).toBe('external_identities.0.issuer');
  });

  it('refuses duplicates within the list, and empty or overlong subjects', async () => {
    const duplicate = await newUser('dup', [{ issuer: IDP, subject: 'a' }, { issuer: IDP, subject: 'a' }]);
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.details[0].path).toBe('external_identities');
    expect((await newUser('dup', [{ issuer: IDP, subject: '' }])).body.details[0].path).toBe('external_identities.0.subject');
    expect((await newUser('dup', [{ issuer: IDP, subject: 'x'.repeat(513) }])).body.details[0].path).toBe('external_identities.0.subject');
    expect((await newUser('dup', [{ issuer: IDP, subject: 'x', email: 'dup@corp' }])).body.details[0].path).toBe('external_identities.0.email');
  });

  it('keeps the links when their issuer is deleted, and drops them with the human', async () => {
    const issuer = 'https://short-lived.users-test.example.com';
    const trusted = (await admin('POST', '/trusted-issuers', { issuer, jwks, purposes: ['id_jag'] })).body;
    const user = (await newUser('ephemeral', [{ issuer, subject: 'e1' }])).body;
    expect((await admin('DELETE', `/trusted-issuers/${trusted.id}`)).status).toBe(204);
    expect((await admin('GET', `/users/${user.id}`)).body.external_identities).toEqual([{ issuer, subject: 'e1' }]);
    expect((await admin('DELETE', `/users/${user.id}`)).status).toBe(200);
    expect(await server.db.prisma.externalIdentity.count({ where: { userId: user.id } })).toBe(0);
  });
});
