// Resource servers through the admin API: a remote resource names the authorization server that serves it
// (authorization_server), set on create, changed or cleared on PATCH, and shown in reads and lists.
import { adminClient, startAdminServer, type AdminCall, type AdminServer } from './support.js';

let server: AdminServer;
let admin: AdminCall;

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
});
afterAll(async () => {
  await server.stop();
});

const scopes = [{ name: 'crm:read', description: 'Read the CRM' }];

it('registers a remote resource with the issuer of its authorization server, and reads it back', async () => {
  const created = await admin('POST', '/resources', { identifier: 'https://crm.partner.example/api', name: 'Partner CRM', scopes, authorization_server: 'https://as.partner.example' });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ identifier: 'https://crm.partner.example/api', authorization_server: 'https://as.partner.example' });
  expect((await admin('GET', `/resources/${created.body.id}`)).body).toEqual(created.body);
  const listed = (await admin('GET', '/resources?limit=200')).body.items.find((item: { id: string }) => item.id === created.body.id);
  expect(listed).toEqual(created.body);
});

it('serves a resource itself unless told otherwise (authorization_server null)', async () => {
  const created = await admin('POST', '/resources', { identifier: 'https://local.example/api', name: 'Local API', scopes });
  expect(created.status).toBe(201);
  expect(created.body.authorization_server).toBeNull();
});

it('sets, changes and clears authorization_server on PATCH, leaving the rest alone, and audits the change', async () => {
  const created = (await admin('POST', '/resources', { identifier: 'https://moving.example/api', name: 'Moving API', scopes })).body;
  const set = await admin('PATCH', `/resources/${created.id}`, { authorization_server: 'https://as.one.example/tenant' });
  expect(set.status).toBe(200);
  expect(set.body).toEqual({ ...created, authorization_server: 'https://as.one.example/tenant' });
  const cleared = await admin('PATCH', `/resources/${created.id}`, { authorization_server: null });
  expect(cleared.status).toBe(200);
  expect(cleared.body).toEqual(created);
  expect((await admin('GET', `/resources/${created.id}`)).body.authorization_server).toBeNull();
  const renamed = await admin('PATCH', `/resources/${created.id}`, { authorization_server: 'https://as.two.example' });
  expect((await admin('PATCH', `/resources/${created.id}`, { name: 'Moved API' })).body).toMatchObject({ name: 'Moved API', authorization_server: 'https://as.two.example' });
  expect(renamed.status).toBe(200);
  const events = await admin('GET', '/audit?action=resource.updated&limit=200');
  const fields = events.body.items.filter((event: { details: { id: string } }) => event.details.id === created.id).map((event: { details: { fields: string[] } }) => event.details.fields);
  expect(fields).toContainEqual(['authorization_server']);
});

it('refuses an authorization_server that is not an issuer identifier', async () => {
  for (const value of ['not a url', 'https://as.example/?tenant=1', 'https://as.example/#frag', 'ftp://as.example', 42]) {
    const response = await admin('POST', '/resources', { identifier: 'https://refused.example/api', name: 'Refused', scopes, authorization_server: value });
    expect(response.status).toBe(400);
    expect(response.body.details[0].path).toBe('authorization_server');
  }
  expect((await admin('GET', '/resources?limit=200')).body.items.map((item: { identifier: string }) => item.identifier)).not.toContain('https://refused.example/api');
});
