// GET /admin/v1/audit: the audit log, newest first, filtered by actor type, agent, human, action and time. Every
// admin write shows up as the act of an admin key, with the request it came from.
import { adminClient, agentToken, createAgent, seed, startAdminServer, type AdminCall, type AdminServer } from './support.js';

let server: AdminServer;
let admin: AdminCall;
let keyId: string;
let userId: string;
let agent: { id: string; client_secret: string };
let startedAt: string;

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  keyId = (await admin('GET', '/admin-keys')).body.items[0].id;
  startedAt = new Date().toISOString();
  userId = (await seed(admin)).user.id;
  agent = await createAgent(admin, userId, 'Audited agent');
  await agentToken(server, agent);
});
afterAll(async () => {
  await server.stop();
});

type Event = { seq: string; action: string; actor_type: string; actor_id: string | null; user_id: string | null; agent_id: string | null; occurred_at: string };
const events = async (query = '') => (await admin('GET', `/audit?limit=200${query}`)).body.items as Event[];

it('lists newest first, with seq as a string', async () => {
  const all = await events();
  expect(all.length).toBeGreaterThan(5);
  for (const event of all) expect(event.seq).toMatch(/^\d+$/);
  const seqs = all.map((event) => BigInt(event.seq));
  expect(seqs).toEqual([...seqs].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));
});

it('filters by actor type: admins’ writes, agents’ token requests, the system’s bootstrap', async () => {
  const byAdmin = await events('&actor_type=admin');
  expect(byAdmin.map((e) => e.action)).toEqual(expect.arrayContaining(['user.created', 'resource.created', 'agent.created']));
  for (const event of byAdmin) expect(event).toMatchObject({ actor_type: 'admin', actor_id: keyId });
  const byAgent = await events('&actor_type=agent');
  expect(byAgent.map((e) => e.action)).toEqual(['token.issued']);
  expect(byAgent[0]).toMatchObject({ actor_id: agent.id, agent_id: agent.id });
  const bySystem = await events('&actor_type=system');
  expect(bySystem).toEqual([expect.objectContaining({ action: 'admin_key.created', actor_id: null, details: expect.objectContaining({ bootstrap: true }) })]);
});

it('filters by agent, human and action, and combines filters', async () => {
  expect((await events(`&agent_id=${agent.id}`)).map((e) => e.action)).toEqual(['token.issued', 'agent.created']);
  expect((await events(`&user_id=${userId}`)).map((e) => e.action)).toEqual(['agent.created', 'user.created']);
  expect((await events('&action=resource.created')).map((e) => e.action)).toEqual(['resource.created', 'resource.created']);
  expect(await events(`&agent_id=${agent.id}&actor_type=admin`)).toEqual([expect.objectContaining({ action: 'agent.created', user_id: userId })]);
  expect(await events('&action=nothing.ever')).toEqual([]);
});

it('filters by time: since inclusive, until exclusive', async () => {
  const all = await events();
  const pivot = all.find((e) => e.action === 'agent.created')!;
  const since = await events(`&since=${encodeURIComponent(pivot.occurred_at)}`);
  expect(since.every((e) => e.occurred_at >= pivot.occurred_at)).toBe(true);
  expect(since.map((e) => e.seq)).toContain(pivot.seq);
  const until = await events(`&until=${encodeURIComponent(pivot.occurred_at)}`);
  expect(until.every((e) => e.occurred_at < pivot.occurred_at)).toBe(true);
  expect(await events(`&until=${encodeURIComponent(startedAt)}&actor_type=admin`)).toEqual([]);
  expect((await events('&since=2000-01-01T00:00:00%2B02:00')).length).toBe(all.length);
});

it('records request id and client address for admin writes', async () => {
  await admin('POST', '/users', { username: 'traced', password: 'correct horse battery staple' }, { 'x-request-id': 'trace-me-0123456789' });
  const [event] = await admin('GET', '/audit?action=user.created&limit=1').then((r) => r.body.items);
  expect(event).toMatchObject({ request_id: 'trace-me-0123456789', ip: expect.stringMatching(/127\.0\.0\.1/), details: { username: 'traced' } });
});

it('refuses unknown actor types and malformed times', async () => {
  expect((await admin('GET', '/audit?actor_type=robot')).body.details[0].path).toBe('actor_type');
  expect((await admin('GET', '/audit?until=tomorrow')).body.details[0].path).toBe('until');
});

it('exports the same events as NDJSON, one per line, with the same filters, to auditors too', async () => {
  const listed = await events('&actor_type=admin');
  const auditorKey = (await admin('POST', '/admin-keys', { name: 'export auditor', role: 'auditor' })).body.key as string;
  const response = await fetch(`${server.issuer}/admin/v1/audit/export?actor_type=admin`, { headers: { authorization: `Bearer ${auditorKey}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
  const lines = (await response.text()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Event);
  // The export was asked for after the list, and creating the auditor key was an admin write of its own.
  expect(lines[0]).toMatchObject({ action: 'admin_key.created', actor_type: 'admin' });
  expect(lines.slice(1).map((e) => e.seq)).toEqual(listed.map((e) => e.seq));
  const unauthenticated = await fetch(`${server.issuer}/admin/v1/audit/export`);
  expect(unauthenticated.status).toBe(401);
});
