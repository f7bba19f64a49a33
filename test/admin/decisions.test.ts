// POST /admin/v1/decisions: the policy's dry run, answered by the same decision function as the token endpoint,
// for admin and auditor keys; nothing issued, nothing recorded.
import { adminClient, API, approve, createAgent, createUser, OTHER_API, seed, startAdminServer, type AdminCall, type AdminServer } from './support.js';

let server: AdminServer;
let admin: AdminCall;
let auditor: AdminCall;
let alice: { id: string };
let agent: { id: string };

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  const ownerId = (await seed(admin)).user.id;
  alice = await createUser(admin, 'decision-alice');
  agent = await createAgent(admin, ownerId, 'Decided agent');
  await approve(admin, alice.id, agent.id, ['files:read']);
  auditor = adminClient(server, (await admin('POST', '/admin-keys', { name: 'decisions auditor', role: 'auditor' })).body.key as string);
}, 60_000);
afterAll(async () => {
  await server.stop();
});

const tokensIssued = () => server.db.prisma.issuedToken.count();

it("explains why an agent cannot get a scope the human never approved, for an auditor key too, issuing nothing", async () => {
  const before = await tokensIssued();
  const response = await auditor('POST', '/decisions', { client_id: agent.id, user_id: alice.id, resource: API, scope: 'files:write' });
  expect(response.status).toBe(200);
  expect(response.body).toMatchObject({ allowed: false, scopes: [], lifetime: null, rule: 'scope_not_approved', error: 'invalid_scope' });
  expect(response.body.description).toContain('files:write');
  expect(await tokensIssued()).toBe(before);
});

it('answers the allowance with its trail when the policy allows', async () => {
  const response = await admin('POST', '/decisions', { client_id: agent.id, user_id: alice.id, resource: API });
  expect(response.body).toMatchObject({ allowed: true, scopes: ['files:read'], lifetime: expect.any(Number) });
  expect(response.body.trail.map((entry: { limit: string }) => entry.limit)).toEqual(expect.arrayContaining(['approval', 'lifetime']));
  const own = await admin('POST', '/decisions', { client_id: agent.id });
  expect(own.body).toMatchObject({ allowed: true, scopes: ['files:read', 'files:write'] });
});

it('names the rule for a resource outside the audiences, an unknown resource, and a missing approval', async () => {
  expect((await admin('POST', '/decisions', { client_id: agent.id, resource: OTHER_API })).body).toMatchObject({ allowed: false, rule: 'resource_not_allowed', error: 'invalid_target' });
  expect((await admin('POST', '/decisions', { client_id: agent.id, resource: 'https://nowhere.example.test' })).body).toMatchObject({ allowed: false, rule: 'unknown_resource' });
  const bob = await createUser(admin, 'decision-bob');
  expect((await admin('POST', '/decisions', { client_id: agent.id, user_id: bob.id, resource: API })).body).toMatchObject({ allowed: false, rule: 'no_approval' });
});

it('says a suspended agent is refused, and answers 404 for an unknown client or human and 400 for a bad body', async () => {
  await admin('POST', `/agents/${agent.id}/suspend`);
  expect((await admin('POST', '/decisions', { client_id: agent.id })).body).toMatchObject({ allowed: false, rule: 'client_suspended' });
  await admin('POST', `/agents/${agent.id}/activate`);
  expect((await admin('POST', '/decisions', { client_id: 'no-such-client' })).status).toBe(404);
  expect((await admin('POST', '/decisions', { client_id: agent.id, user_id: '00000000-0000-4000-8000-000000000000' })).status).toBe(404);
  const bad = await admin('POST', '/decisions', { client_id: agent.id, grant_type: 'password' });
  expect(bad.status).toBe(400);
  expect(bad.body.error).toBe('invalid_request');
});
