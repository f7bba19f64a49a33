// The OpenAPI 3.1 document of the admin API: served without a key, lists every route with its bodies, the error
// shape and the bearer scheme, every reference resolves, and real responses match the documented schemas.
import { adminClient, agentToken, API, approve, createAgent, seed, startAdminServer, type AdminCall, type AdminServer } from './support.js';

type Schema = Record<string, any>;
let server: AdminServer;
let admin: AdminCall;
let document: Schema;

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  const response = await fetch(`${server.url}/admin/v1/openapi.json`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  document = JSON.parse(await response.text()) as Schema;
});
afterAll(async () => {
  await server.stop();
});

const EXPECTED = [
  'GET /openapi.json',
  'POST /admin-keys', 'GET /admin-keys', 'DELETE /admin-keys/{id}',
  'POST /users', 'GET /users', 'GET /users/{id}', 'PATCH /users/{id}', 'DELETE /users/{id}',
  'POST /resources', 'GET /resources', 'GET /resources/{id}', 'PATCH /resources/{id}',
  'POST /agents', 'GET /agents', 'GET /agents/{id}', 'PATCH /agents/{id}',
  'POST /agents/{id}/secret', 'POST /agents/{id}/suspend', 'POST /agents/{id}/activate',
  'POST /clients', 'GET /clients', 'GET /clients/{id}', 'PATCH /clients/{id}', 'DELETE /clients/{id}', 'POST /clients/{id}/secret',
  'POST /approvals', 'GET /approvals', 'GET /approvals/{id}', 'DELETE /approvals/{id}',
  'GET /tokens', 'GET /tokens/{jti}', 'POST /decisions', 'POST /revocations', 'GET /audit', 'GET /audit/export',
  'GET /client-domains', 'POST /client-domains', 'DELETE /client-domains/{domain}',
  'POST /trusted-issuers', 'GET /trusted-issuers', 'GET /trusted-issuers/{id}', 'PATCH /trusted-issuers/{id}', 'DELETE /trusted-issuers/{id}',
];

const operations = () =>
  Object.entries(document.paths as Record<string, Record<string, Schema>>).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, operation })),
  );

/** Follows a local JSON pointer (`#/components/...`). */
function resolve(ref: string): Schema {
  const target = ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<any>((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], document);
  if (target === undefined) throw new Error(`unresolved $ref ${ref}`);
  return target as Schema;
}

/** A small JSON Schema check, enough for what zod emits here: problems as "path: what". */
function check(schema: Schema, value: unknown, path = '$'): string[] {
  if (schema.$ref) return check(resolve(schema.$ref), value, path);
  if (schema.anyOf) return schema.anyOf.some((option: Schema) => check(option, value, path).length === 0) ? [] : [`${path}: matches no anyOf option`];
  const types = ([] as string[]).concat(schema.type ?? []);
  const actual = value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (types.length > 0 && !types.includes(actual) && !(actual === 'integer' && types.includes('number'))) return [`${path}: ${actual} is not ${types.join('|')}`];
  if (schema.enum && !schema.enum.includes(value)) return [`${path}: ${String(value)} is not one of ${schema.enum.join(', ')}`];
  if (actual === 'array') return (value as unknown[]).flatMap((item, i) => (schema.items ? check(schema.items, item, `${path}.${i}`) : []));
  if (actual !== 'object') return [];
  const object = value as Record<string, unknown>;
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  return [
    ...((schema.required ?? []) as string[]).filter((key) => !(key in object)).map((key) => `${path}.${key}: missing`),
    ...Object.keys(object)
      .filter((key) => !(key in properties) && schema.additionalProperties === false)
      .map((key) => `${path}.${key}: not documented`),
    ...Object.entries(object).flatMap(([key, item]) => (properties[key] ? check(properties[key], item, `${path}.${key}`) : [])),
  ];
}

/** The documented schema of an operation's success response. */
function responseSchema(key: string): Schema {
  const { operation } = operations().find((op) => op.key === key)!;
  const [status, response] = Object.entries(operation.responses as Record<string, Schema>).find(([code]) => code.startsWith('2'))!;
  expect(status).toMatch(/^2\d\d$/);
  return response.content['application/json'].schema;
}

it('is OpenAPI 3.1 with the bearer admin key as its security scheme', () => {
  expect(document.openapi).toMatch(/^3\.1\.\d+$/);
  expect(document.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
  expect(document.components.securitySchemes.adminKey).toMatchObject({ type: 'http', scheme: 'bearer' });
  expect(document.security).toEqual([{ adminKey: [] }]);
  expect(document.servers).toEqual([{ url: '/admin/v1' }]);
});

it('lists every route of the admin API, and nothing else', () => {
  expect(operations().map((op) => op.key).sort()).toEqual([...EXPECTED].sort());
  const ids = operations().map((op) => op.operation.operationId);
  expect(new Set(ids).size).toBe(ids.length);
});

it('documents the error shape and the errors of every operation (400, 401, and 403 for writes)', () => {
  expect(resolve('#/components/schemas/Error')).toMatchObject({
    type: 'object',
    required: ['error', 'message'],
    properties: { error: { type: 'string' }, message: { type: 'string' }, details: { type: 'array' } },
  });
  for (const { key, operation } of operations()) {
    if (key === 'GET /openapi.json') {
      expect(operation.security).toEqual([]);
      continue;
    }
    // Writes are for admin keys (403 to auditors); reads and the policy's dry run are not.
    const write = operation['x-required-role'] === 'admin';
    expect(write).toBe(!key.startsWith('GET') && key !== 'POST /decisions');
    expect({ key, codes: Object.keys(operation.responses) }).toEqual({ key, codes: expect.arrayContaining(['400', '401', ...(write ? ['403'] : [])]) });
    for (const [code, response] of Object.entries(operation.responses as Record<string, Schema>)) {
      if (code.startsWith('2')) continue;
      expect(resolve(response.$ref).content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    }
  }
});

it('documents request bodies and query parameters from the validating schemas', () => {
  const createAgent = resolve(operations().find((op) => op.key === 'POST /agents')!.operation.requestBody.content['application/json'].schema.$ref);
  expect(createAgent.additionalProperties).toBe(false);
  expect(createAgent.required).toEqual(expect.arrayContaining(['name', 'owner_user_id', 'scopes', 'audiences']));
  // A method, unless workload identities (whose assertions are private_key_jwt) are given.
  expect(createAgent.anyOf).toEqual([{ required: ['token_endpoint_auth_method'] }, { required: ['workload_identities'] }]);
  expect(createAgent.properties.token_endpoint_auth_method.enum).toEqual(['private_key_jwt', 'client_secret_basic', 'client_secret_post']);
  const revocation = resolve(operations().find((op) => op.key === 'POST /revocations')!.operation.requestBody.content['application/json'].schema.$ref);
  expect(revocation.oneOf).toHaveLength(5);
  const audit = operations().find((op) => op.key === 'GET /audit')!.operation;
  expect(audit.parameters.map((p: Schema) => p.name)).toEqual(['limit', 'cursor', 'actor_type', 'agent_id', 'user_id', 'action', 'since', 'until']);
  expect(audit.parameters.find((p: Schema) => p.name === 'limit').schema).toMatchObject({ maximum: 200, default: 50 });
  const trustedIssuer = resolve(operations().find((op) => op.key === 'POST /trusted-issuers')!.operation.requestBody.content['application/json'].schema.$ref);
  expect(trustedIssuer.required).toEqual(expect.arrayContaining(['issuer', 'purposes']));
  expect(trustedIssuer.properties.purposes.items.enum).toEqual(['workload', 'id_jag']);
  // No body, so no content, for a 204.
  expect(operations().find((op) => op.key === 'DELETE /trusted-issuers/{id}')!.operation.responses['204']).toEqual({ description: 'Deleted' });
  const agent = operations().find((op) => op.key === 'GET /agents/{id}')!.operation;
  expect(agent.parameters).toEqual([{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }]);
});

it('resolves every $ref', () => {
  const refs: string[] = [];
  JSON.stringify(document, (key, value) => {
    if (key === '$ref') refs.push(value as string);
    return value;
  });
  expect(refs.length).toBeGreaterThan(50);
  for (const ref of refs) expect(() => resolve(ref)).not.toThrow();
});

it('describes what the API really answers', async () => {
  const { user } = await seed(admin);
  const agent = await createAgent(admin, user.id, 'Documented agent');
  const approval = await approve(admin, user.id, agent.id, ['files:read']);
  await agentToken(server, agent);
  const resource = (await admin('GET', '/resources')).body.items[0];
  const app = (await admin('POST', '/clients', { name: 'Documented app', resources: [API], scopes: ['files:read'] })).body;
  const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] };
  const trusted = (await admin('POST', '/trusted-issuers', { issuer: 'https://documented-idp.example.com', jwks, purposes: ['workload', 'id_jag'] })).body;
  const calls: Array<[string, string, string, unknown?]> = [
    ['GET /users', 'GET', '/users'],
    ['GET /users/{id}', 'GET', `/users/${user.id}`],
    ['GET /resources/{id}', 'GET', `/resources/${resource.id}`],
    ['GET /agents', 'GET', '/agents'],
    ['GET /approvals/{id}', 'GET', `/approvals/${approval.id}`],
    ['GET /tokens', 'GET', '/tokens'],
    ['GET /audit', 'GET', '/audit'],
    ['GET /admin-keys', 'GET', '/admin-keys'],
    ['POST /admin-keys', 'POST', '/admin-keys', { name: 'documented', role: 'auditor' }],
    ['POST /agents', 'POST', '/agents', { name: 'Doc', owner_user_id: user.id, scopes: [], audiences: [API], token_endpoint_auth_method: 'client_secret_post' }],
    ['POST /agents/{id}/secret', 'POST', `/agents/${agent.id}/secret`],
    ['POST /agents/{id}/suspend', 'POST', `/agents/${agent.id}/suspend`],
    ['POST /agents/{id}/activate', 'POST', `/agents/${agent.id}/activate`],
    ['DELETE /approvals/{id}', 'DELETE', `/approvals/${approval.id}`],
    ['POST /revocations', 'POST', '/revocations', { agent_id: agent.id }],
    ['POST /clients', 'POST', '/clients', { name: 'Doc app', redirect_uris: ['https://app.example.test/cb'], resources: [API], scopes: ['files:read'] }],
    ['GET /clients', 'GET', '/clients'],
    ['GET /clients/{id}', 'GET', `/clients/${app.id}`],
    ['PATCH /clients/{id}', 'PATCH', `/clients/${app.id}`, { resource_server: API }],
    ['POST /clients/{id}/secret', 'POST', `/clients/${app.id}/secret`],
    ['DELETE /clients/{id}', 'DELETE', `/clients/${app.id}`],
    ['POST /trusted-issuers', 'POST', '/trusted-issuers', { issuer: 'https://documented-platform.example.com', jwks_uri: 'https://documented-platform.example.com/jwks', purposes: ['workload'], allowed_clients: [agent.id], allowed_resources: [API] }],
    ['GET /trusted-issuers', 'GET', '/trusted-issuers'],
    ['GET /trusted-issuers/{id}', 'GET', `/trusted-issuers/${trusted.id}`],
    ['PATCH /trusted-issuers/{id}', 'PATCH', `/trusted-issuers/${trusted.id}`, { name: 'Documented', allowed_clients: null }],
    ['POST /users', 'POST', '/users', { username: 'documented-human', password: 'correct horse battery staple', external_identities: [{ issuer: trusted.issuer, subject: 'doc' }] }],
    ['PATCH /agents/{id}', 'PATCH', `/agents/${agent.id}`, { remote_client_ids: [{ authorization_server: 'https://as.partner.example', client_id: 'doc' }] }],
    ['POST /agents', 'POST', '/agents', { name: 'Doc workload', owner_user_id: user.id, scopes: [], audiences: [API], workload_identities: [{ issuer: trusted.issuer, subject: 'doc' }] }],
    ['PATCH /resources/{id}', 'PATCH', `/resources/${resource.id}`, { authorization_server: null }],
  ];
  for (const [key, method, path, body] of calls) {
    const response = await admin(method, path, body);
    expect({ key, status: response.status }).toEqual({ key, status: expect.any(Number) });
    expect(response.status).toBeLessThan(300);
    expect({ key, problems: check(responseSchema(key), response.body) }).toEqual({ key, problems: [] });
  }
  // The check itself notices what it should: an undocumented field, a missing one, a wrong type.
  const read = (await admin('GET', `/users/${user.id}`)).body;
  expect(check(responseSchema('GET /users/{id}'), { ...read, password_hash: 'x' })).toEqual(['$.password_hash: not documented']);
  expect(check(responseSchema('GET /users/{id}'), { ...read, status: undefined, created_at: 5 })).toEqual(
    expect.arrayContaining(['$.created_at: integer is not string', expect.stringMatching(/^\$\.status/)]),
  );
  const error = await admin('GET', '/users?limit=0');
  expect(check({ $ref: '#/components/schemas/Error' }, error.body)).toEqual([]);
});
