// Every list answers { items, next_cursor }: following next_cursor visits each record exactly once, the last page
// says null, `limit` defaults to 50 and stops at 200, and the audit log's pages stay put while events are appended.
import { adminClient, agentToken, API, approve, seed, startAdminServer, walk, type AdminCall, type AdminServer } from './support.js';

let server: AdminServer;
let admin: AdminCall;

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  const { user } = await seed(admin);
  for (let i = 0; i < 5; i++) await admin('POST', '/admin-keys', { name: `key ${i}`, role: i % 2 ? 'admin' : 'auditor' });
  for (let i = 0; i < 5; i++) {
    await admin('POST', '/resources', { identifier: `https://r${i}.example.test`, name: `r${i}`, scopes: [{ name: 'x:read', description: 'x' }] });
  }
  const humans = [];
  for (let i = 0; i < 20; i++) humans.push((await admin('POST', '/users', { username: `pager-${i}`, password: 'correct horse battery staple' })).body.id as string);
  const agents = [];
  for (let i = 0; i < 7; i++) {
    const agent = await admin('POST', '/agents', { name: `agent ${i}`, owner_user_id: user.id, scopes: ['files:read'], audiences: [API], token_endpoint_auth_method: 'client_secret_basic' });
    agents.push(agent.body as { id: string; client_secret: string });
  }
  for (let i = 0; i < 7; i++) await approve(admin, humans[i]!, agents[i]!.id, ['files:read']);
  for (const agent of agents) await agentToken(server, agent);
}, 120_000);
afterAll(async () => {
  await server.stop();
});

const ids = (items: Array<{ id?: string; jti?: string; seq?: string }>) => items.map((item) => item.seq ?? item.jti ?? item.id);

it.each([
  ['/admin-keys', () => server.db.prisma.adminKey.findMany({ select: { id: true } })],
  ['/users', () => server.db.prisma.user.findMany({ select: { id: true } })],
  ['/resources', () => server.db.prisma.resourceServer.findMany({ select: { id: true } })],
  ['/agents', () => server.db.prisma.agent.findMany({ select: { id: true } })],
  ['/approvals', () => server.db.prisma.approval.findMany({ select: { id: true } })],
  ['/tokens', async () => (await server.db.prisma.issuedToken.findMany({ select: { jti: true } })).map((t) => ({ id: t.jti }))],
  ['/audit', async () => (await server.db.prisma.auditEvent.findMany({ select: { seq: true } })).map((e) => ({ id: e.seq.toString() }))],
])('%s: walking next_cursor visits every record exactly once', async (path, all) => {
  const expected = (await all()).map((row) => row.id).sort();
  expect(expected.length).toBeGreaterThanOrEqual(6);
  for (const limit of [1, 2, 5]) {
    const { items, pages } = await walk(admin, path, limit);
    const seen = ids(items);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(expected);
    // The last page may be full, in which case one more (empty) page says null.
    expect(pages === Math.ceil(expected.length / limit) || pages === Math.ceil(expected.length / limit) + 1).toBe(true);
  }
});

it('answers 50 items by default and at most 200', async () => {
  const events = await server.db.prisma.auditEvent.count();
  expect(events).toBeGreaterThan(50);
  const first = await admin('GET', '/audit');
  expect(first.body.items).toHaveLength(50);
  expect(first.body.next_cursor).toEqual(expect.any(String));
  const max = await admin('GET', '/audit?limit=200');
  expect(max.body.items).toHaveLength(Math.min(events, 200));
  expect((await admin('GET', '/audit?limit=201')).status).toBe(400);
});

it('keeps audit pages stable while events are appended: nothing repeats, nothing is skipped', async () => {
  const before = (await server.db.prisma.auditEvent.findMany({ select: { seq: true } })).map((e) => e.seq.toString());
  const first = await admin('GET', '/audit?limit=4');
  await admin('POST', '/users', { username: 'late-arrival', password: 'correct horse battery staple' });
  const seen = ids(first.body.items);
  for (let cursor = first.body.next_cursor; cursor !== null; ) {
    const page = await admin('GET', `/audit?limit=4&cursor=${cursor}`);
    seen.push(...ids(page.body.items));
    cursor = page.body.next_cursor;
  }
  expect([...seen].sort()).toEqual([...before].sort());
  expect(seen.map(Number)).toEqual([...seen.map(Number)].sort((a, b) => b - a));
});
