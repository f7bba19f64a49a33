// Trusted issuers through the admin API: exactly one key source, public keys only, https jwks_uri (loopback only
// with the development switch), purposes, allow-lists that name what exists, immutable issuer, audited writes, and
// auditors who may read but not write.
import { exportJWK, generateKeyPair } from 'jose';
import { createTrustedIssuerStore } from '../../src/federation/trusted-issuer-store.js';
import { adminClient, API, createAgent, seed, startAdminServer, walk, type AdminCall, type AdminServer } from './support.js';

let server: AdminServer;
let admin: AdminCall;
let auditor: AdminCall;
let publicJwk: Record<string, unknown>;
let privateJwk: Record<string, unknown>;
let agentId: string;

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  const { user } = await seed(admin);
  agentId = (await createAgent(admin, user.id)).id;
  const key = await admin('POST', '/admin-keys', { name: 'auditor', role: 'auditor' });
  auditor = adminClient(server, key.body.key);
  const pair = await generateKeyPair('ES256', { extractable: true });
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1' };
  privateJwk = await exportJWK(pair.privateKey);
});
afterAll(async () => {
  await server.stop();
});

let counter = 0;
const issuerUrl = () => `https://idp-${++counter}.example.com`;

it('trusts an issuer with inline public keys and answers it as stored', async () => {
  const issuer = issuerUrl();
  const created = await admin('POST', '/trusted-issuers', { issuer, name: 'Corporate IdP', jwks: { keys: [publicJwk] }, purposes: ['id_jag'] });
  expect(created.status).toBe(201);
  expect(created.body).toEqual({
    id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    issuer,
    name: 'Corporate IdP',
    jwks: { keys: [publicJwk] },
    jwks_uri: null,
    purposes: ['id_jag'],
    allowed_clients: null,
    allowed_resources: null,
    created_at: expect.any(String),
    updated_at: expect.any(String),
  });
  const read = await auditor('GET', `/trusted-issuers/${created.body.id}`);
  expect(read.status).toBe(200);
  expect(read.body).toEqual(created.body);
});

it('trusts an issuer with an https jwks_uri, limited to named clients and registered resources (stored canonical)', async () => {
  const created = await admin('POST', '/trusted-issuers', {
    issuer: issuerUrl(),
    jwks_uri: 'https://k8s.example.com/openid/v1/jwks',
    purposes: ['workload', 'id_jag'],
    allowed_clients: [agentId],
    allowed_resources: ['HTTPS://API.example.test/'],
  });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({
    jwks: null,
    jwks_uri: 'https://k8s.example.com/openid/v1/jwks',
    purposes: ['workload', 'id_jag'],
    allowed_clients: [agentId],
    allowed_resources: [API],
  });
});

it('refuses both key sources, or neither, naming the field', async () => {
  const both = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [publicJwk] }, jwks_uri: 'https://idp.example.com/jwks', purposes: ['workload'] });
  expect(both.status).toBe(400);
  expect(both.body.details).toEqual([{ path: 'jwks', message: expect.stringContaining('exactly one of jwks') }]);
  const neither = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), purposes: ['workload'] });
  expect(neither.status).toBe(400);
  expect(neither.body.details).toEqual([{ path: 'jwks_uri', message: expect.stringContaining('exactly one of jwks') }]);
});

it('refuses private or symmetric key material, keys without kty, and an empty key set', async () => {
  const priv = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [privateJwk] }, purposes: ['workload'] });
  expect(priv.status).toBe(400);
  expect(priv.body.details).toContainEqual({ path: 'jwks.keys.0.d', message: expect.stringContaining('public keys only') });
  const symmetric = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }, purposes: ['workload'] });
  expect(symmetric.status).toBe(400);
  expect(symmetric.body.details).toContainEqual({ path: 'jwks.keys.0.k', message: expect.any(String) });
  const noKty = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [{ crv: 'P-256', x: 'a', y: 'b' }] }, purposes: ['workload'] });
  expect(noKty.status).toBe(400);
  expect(noKty.body.details[0].path).toBe('jwks.keys.0.kty');
  const empty = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [] }, purposes: ['workload'] });
  expect(empty.status).toBe(400);
  expect(empty.body.details[0].path).toBe('jwks.keys');
});

it('refuses a jwks_uri that is not https, and a loopback one without the development switch', async () => {
  const http = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks_uri: 'http://idp.example.com/jwks', purposes: ['workload'] });
  expect(http.status).toBe(400);
  expect(http.body.details).toEqual([{ path: 'jwks_uri', message: 'an https URL' }]);
  for (const uri of ['https://127.0.0.1:8443/jwks', 'https://localhost/jwks', 'https://[::1]/jwks', 'https://[::ffff:127.0.0.1]/jwks']) {
    const loopback = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks_uri: uri, purposes: ['workload'] });
    expect(loopback.status).toBe(400);
    expect(loopback.body.details).toEqual([{ path: 'jwks_uri', message: expect.stringContaining('AGENTAUTH_CIMD_ALLOW_LOOPBACK') }]);
  }
  expect((await walk(admin, '/trusted-issuers', 200)).items.map((item) => item.jwks_uri)).not.toContain('https://localhost/jwks');
});

it('accepts a loopback jwks_uri (still https) where the switch is on', async () => {
  const store = createTrustedIssuerStore(server.db.prisma, { resources: server.stores.resources, allowLoopbackJwksUri: true });
  const issuer = issuerUrl();
  const created = await store.create({ issuer, jwksUri: 'https://127.0.0.1:8443/jwks', purposes: ['workload'] });
  expect(created).toMatchObject({ issuer, jwksUri: 'https://127.0.0.1:8443/jwks', jwks: null });
});

it('refuses an issuer that is not an absolute URL, or has a query or fragment', async () => {
  for (const issuer of ['not a url', 'urn:example:idp', 'https://idp.example.com/?tenant=1', 'https://idp.example.com/#x']) {
    const response = await admin('POST', '/trusted-issuers', { issuer, jwks: { keys: [publicJwk] }, purposes: ['workload'] });
    expect(response.status).toBe(400);
    expect(response.body.details[0].path).toBe('issuer');
  }
});

it('answers 409 for an issuer already trusted', async () => {
  const issuer = issuerUrl();
  expect((await admin('POST', '/trusted-issuers', { issuer, jwks: { keys: [publicJwk] }, purposes: ['workload'] })).status).toBe(201);
  const again = await admin('POST', '/trusted-issuers', { issuer, jwks_uri: 'https://idp.example.com/jwks', purposes: ['id_jag'] });
  expect(again.status).toBe(409);
  expect(again.body.error).toBe('conflict');
});

it('requires purposes: a non-empty list of workload and id_jag, each once', async () => {
  for (const purposes of [undefined, [], ['login'], ['workload', 'workload']]) {
    const response = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [publicJwk] }, purposes });
    expect(response.status).toBe(400);
    expect(response.body.details[0].path).toMatch(/^purposes/);
  }
});

it('refuses allow-lists naming unknown clients or unregistered resources, and empty ones', async () => {
  const clients = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [publicJwk] }, purposes: ['workload'], allowed_clients: [agentId, 'no-such-client'] });
  expect(clients.status).toBe(400);
  expect(clients.body.details).toEqual([{ path: 'allowed_clients.1', message: 'no client no-such-client' }]);
  const resources = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [publicJwk] }, purposes: ['id_jag'], allowed_resources: ['https://unregistered.example'] });
  expect(resources.status).toBe(400);
  expect(resources.body.details).toEqual([{ path: 'allowed_resources.0', message: expect.stringContaining('no registered resource') }]);
  const empty = await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [publicJwk] }, purposes: ['id_jag'], allowed_clients: [] });
  expect(empty.status).toBe(400);
  expect(empty.body.details[0].path).toBe('allowed_clients');
});

it('lists trusted issuers page by page', async () => {
  for (let i = 0; i < 3; i++) await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [publicJwk] }, purposes: ['workload'] });
  const all = await walk(admin, '/trusted-issuers', 200);
  const paged = await walk(auditor, '/trusted-issuers', 2);
  expect(all.items.length).toBeGreaterThanOrEqual(5);
  expect(paged.pages).toBeGreaterThanOrEqual(Math.ceil(all.items.length / 2));
  expect(paged.items.map((item) => item.id)).toEqual(all.items.map((item) => item.id));
  expect(new Set(paged.items.map((item) => item.id)).size).toBe(paged.items.length);
  const issuers = all.items.map((item) => item.issuer);
  expect(issuers).toEqual([...issuers].sort());
  expect((await admin('GET', '/trusted-issuers?cursor=bm90LWEtY3Vyc29y')).status).toBe(400);
});

it('changes name, key source, purposes and allow-lists, but never the issuer', async () => {
  const created = (await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [publicJwk] }, purposes: ['workload'], allowed_clients: [agentId] })).body;
  const changed = await admin('PATCH', `/trusted-issuers/${created.id}`, {
    name: 'Cluster',
    jwks_uri: 'https://cluster.example.com/jwks',
    purposes: ['workload', 'id_jag'],
    allowed_clients: null,
    allowed_resources: [API],
  });
  expect(changed.status).toBe(200);
  expect(changed.body).toMatchObject({
    issuer: created.issuer,
    name: 'Cluster',
    jwks: null,
    jwks_uri: 'https://cluster.example.com/jwks',
    purposes: ['workload', 'id_jag'],
    allowed_clients: null,
    allowed_resources: [API],
  });
  const back = await admin('PATCH', `/trusted-issuers/${created.id}`, { jwks: { keys: [publicJwk] } });
  expect(back.body).toMatchObject({ jwks: { keys: [publicJwk] }, jwks_uri: null, name: 'Cluster' });

  const issuer = await admin('PATCH', `/trusted-issuers/${created.id}`, { issuer: 'https://other.example.com' });
  expect(issuer.status).toBe(400);
  expect(issuer.body.details).toContainEqual({ path: 'issuer', message: 'unknown field' });
  const both = await admin('PATCH', `/trusted-issuers/${created.id}`, { jwks: { keys: [publicJwk] }, jwks_uri: 'https://cluster.example.com/jwks' });
  expect(both.status).toBe(400);
  expect((await admin('PATCH', `/trusted-issuers/${created.id}`, {})).status).toBe(400);
  const unknownClient = await admin('PATCH', `/trusted-issuers/${created.id}`, { allowed_clients: ['nobody'] });
  expect(unknownClient.status).toBe(400);
  expect((await admin('GET', `/trusted-issuers/${created.id}`)).body).toEqual(back.body);
  expect((await admin('PATCH', '/trusted-issuers/00000000-0000-4000-8000-000000000000', { name: 'x' })).status).toBe(404);
});

it('deletes with 204; the issuer is gone', async () => {
  const created = (await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [publicJwk] }, purposes: ['workload'] })).body;
  const removed = await admin('DELETE', `/trusted-issuers/${created.id}`);
  expect(removed.status).toBe(204);
  expect(removed.body).toBeUndefined();
  expect((await admin('GET', `/trusted-issuers/${created.id}`)).status).toBe(404);
  expect((await admin('DELETE', `/trusted-issuers/${created.id}`)).status).toBe(404);
  // The same issuer may be trusted again.
  expect((await admin('POST', '/trusted-issuers', { issuer: created.issuer, jwks: { keys: [publicJwk] }, purposes: ['workload'] })).status).toBe(201);
});

it('lets auditor keys read but not write', async () => {
  const created = (await admin('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [publicJwk] }, purposes: ['workload'] })).body;
  expect((await auditor('GET', '/trusted-issuers')).status).toBe(200);
  const post = await auditor('POST', '/trusted-issuers', { issuer: issuerUrl(), jwks: { keys: [publicJwk] }, purposes: ['workload'] });
  expect(post.status).toBe(403);
  expect(post.body.error).toBe('forbidden');
  expect((await auditor('PATCH', `/trusted-issuers/${created.id}`, { name: 'no' })).status).toBe(403);
  expect((await auditor('DELETE', `/trusted-issuers/${created.id}`)).status).toBe(403);
  expect((await admin('GET', `/trusted-issuers/${created.id}`)).body.name).toBe('');
});

it('records every write in the audit log, and nothing for a refused one', async () => {
  const issuer = issuerUrl();
  const created = (await admin('POST', '/trusted-issuers', { issuer, jwks: { keys: [publicJwk] }, purposes: ['id_jag'] })).body;
  await admin('PATCH', `/trusted-issuers/${created.id}`, { name: 'Renamed', purposes: ['workload'] });
  await admin('POST', '/trusted-issuers', { issuer, jwks: { keys: [publicJwk] }, purposes: ['id_jag'] }); // 409
  await admin('DELETE', `/trusted-issuers/${created.id}`);
  const events = (await walk(admin, '/audit?action=trusted_issuer.created', 200)).items
    .concat((await walk(admin, '/audit?action=trusted_issuer.updated', 200)).items, (await walk(admin, '/audit?action=trusted_issuer.deleted', 200)).items)
    .filter((event) => event.details.issuer === issuer);
  expect(events.map((event) => [event.action, event.actor_type, event.outcome]).sort()).toEqual([
    ['trusted_issuer.created', 'admin', 'success'],
    ['trusted_issuer.deleted', 'admin', 'success'],
    ['trusted_issuer.updated', 'admin', 'success'],
  ]);
  expect(events.find((event) => event.action === 'trusted_issuer.created').details).toMatchObject({ id: created.id, purposes: ['id_jag'] });
  expect(events.find((event) => event.action === 'trusted_issuer.updated').details.fields.sort()).toEqual(['name', 'purposes']);
});
