// Hostile input at the admin API: every route, with NUL and broken UTF-8 in paths, queries and bodies, wrong types,
// huge numbers, oversized and chunked bodies, and keys that are missing, forged, revoked or only an auditor's. Each
// gets a 4xx in the admin error shape, changes nothing, and refused keys are on the record.
import { API } from '../admin/support.js';
import { JSON_TYPE, NASTY, runCase, startCast, type Cast, type HostileCase } from './support.js';

const cast: Cast = await startCast();
afterAll(() => cast.server.stop());

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
function call(method: string, path: string, body?: string | Buffer | Buffer[], extra: Partial<HostileCase> = {}): HostileCase {
  return {
    name: `${method} /admin/v1${path.length > 80 ? `${path.slice(0, 80)}…` : path}`,
    method,
    path: `/admin/v1${path}`,
    headers: { ...bearer(cast.adminKey), ...(body !== undefined ? JSON_TYPE : {}) },
    ...(body !== undefined ? { body } : {}),
    shape: 'admin',
    ...extra,
  };
}
const named = (c: HostileCase, label: string): HostileCase => ({ ...c, name: `${c.name}: ${label}` });

const cases: HostileCase[] = [];
const agentId = cast.agent.id;
const userId = cast.alice.id;
const uuid0 = '00000000-0000-4000-8000-000000000000';

// --- list filters and cursors: NUL and broken UTF-8 in every query parameter
const listFilters: Array<[string, string[]]> = [
  ['/users', ['status', 'cursor']],
  ['/resources', ['cursor']],
  ['/agents', ['owner_user_id', 'status', 'cursor']],
  ['/approvals', ['user_id', 'agent_id', 'status', 'cursor']],
  ['/tokens', ['agent_id', 'user_id', 'active', 'cursor']],
  ['/audit', ['agent_id', 'user_id', 'action', 'actor_type', 'since', 'cursor']],
  ['/admin-keys', ['cursor']],
];
for (const [path, filters] of listFilters) {
  for (const filter of filters) {
    for (const nasty of NASTY.slice(0, 3)) cases.push(named(call('GET', `${path}?${filter}=${nasty.encoded}`), `${nasty.label} in ${filter}`));
  }
  cases.push(named(call('GET', `${path}?limit=1e400`), 'huge limit'));
  cases.push(named(call('GET', `${path}?limit=-1`), 'negative limit'));
  cases.push(named(call('GET', `${path}?limit=1&limit=2`), 'limit given twice'));
  cases.push(named(call('GET', `${path}?nonsense=1`), 'unknown filter'));
  cases.push(named(call('GET', `${path}?cursor=${'A'.repeat(600)}`), 'overlong cursor'));
}
cases.push(named(call('GET', `/audit?cursor=${Buffer.from('audit:9999999999999999999').toString('base64url')}`), 'cursor beyond the largest sequence number'));
cases.push(named(call('GET', `/audit?cursor=${Buffer.from('audit:0').toString('base64url')}`), 'cursor zero'));
cases.push(named(call('GET', `/audit?cursor=${Buffer.from('users:1').toString('base64url')}`), 'cursor of another list'));
cases.push(named(call('GET', `/users?cursor=${Buffer.from('users:\u0000').toString('base64url')}`), 'cursor hiding a NUL'));
cases.push(named(call('GET', '/audit?since=99999-01-01T00:00:00Z'), 'since beyond year 9999'));
cases.push(named(call('GET', '/audit?since=2026-13-45T00:00:00Z'), 'impossible date'));
cases.push(named(call('GET', '/audit/export?since=%00'), 'NUL in an export filter'));

// --- path parameters
cases.push(named(call('DELETE', `/admin-keys/${uuid0}`, undefined, { status: [404] }), 'an id that names nothing'));
for (const path of ['/users/', '/resources/', '/agents/', '/approvals/']) {
  for (const nasty of NASTY.slice(0, 3)) cases.push(named(call('GET', `${path}${nasty.encoded}`, undefined, { status: [400, 404] }), `${nasty.label} as the id`));
  cases.push(named(call('GET', `${path}${uuid0}`, undefined, { status: [404] }), 'an id that names nothing'));
}
cases.push(named(call('GET', '/tokens/%00', undefined, { status: [400, 404] }), 'NUL as the jti'));
cases.push(named(call('GET', '/tokens/%FF', undefined, { status: [400, 404] }), 'invalid UTF-8 as the jti'));
cases.push(named(call('GET', `/tokens/${'a'.repeat(3000)}`, undefined, { status: [400, 404, 414] }), 'a 3,000-character jti'));

// --- bodies: every string field of every write, with NUL, lone surrogates and wrong types
const bodies: Array<[string, string, Record<string, unknown>, string[]]> = [
  ['POST', '/users', { username: 'zed', password: 'correct horse battery staple' }, ['username', 'password', 'display_name']],
  ['PATCH', `/users/${userId}`, { display_name: 'Alice' }, ['display_name', 'password', 'status']],
  ['POST', '/resources', { identifier: 'https://new.example.test', name: 'New', scopes: [] }, ['identifier', 'name']],
  ['POST', '/agents', { name: 'x', owner_user_id: userId, scopes: ['files:read'], audiences: [API], token_endpoint_auth_method: 'client_secret_basic' }, ['name', 'description', 'owner_user_id', 'token_endpoint_auth_method']],
  ['PATCH', `/agents/${agentId}`, { description: 'ok' }, ['name', 'description']],
  ['POST', '/approvals', { user_id: userId, agent_id: agentId, scopes: ['files:read'], resources: [API] }, ['user_id', 'agent_id']],
  ['POST', '/revocations', { jti: 'x' }, ['jti', 'approval_id', 'agent_id', 'user_id']],
  ['POST', '/admin-keys', { name: 'k', role: 'auditor' }, ['name', 'role']],
];
for (const [method, path, valid, fields] of bodies) {
  for (const field of fields) {
    cases.push(named(call(method, path, JSON.stringify({ ...valid, [field]: 'a\u0000b' })), `NUL in ${field}`));
    cases.push(named(call(method, path, JSON.stringify({ ...valid, [field]: 'x' }).replace('"x"', '"\\ud800"')), `lone surrogate in ${field}`));
    cases.push(named(call(method, path, JSON.stringify({ ...valid, [field]: 12345678901234567890 })), `a number as ${field}`));
    cases.push(named(call(method, path, JSON.stringify({ ...valid, [field]: ['a'] })), `an array as ${field}`));
  }
  cases.push(named(call(method, path, Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])), 'raw invalid UTF-8 in the body'));
  cases.push(named(call(method, path, '{"a":'), 'truncated JSON'));
  cases.push(named(call(method, path, '[]'), 'an array body'));
  cases.push(named(call(method, path, 'null'), 'a null body'));
  cases.push(named(call(method, path, JSON.stringify(valid), { headers: { ...bearer(cast.adminKey), 'content-type': 'text/plain' }, status: [400, 415] }), 'text/plain content type'));
  cases.push(named(call(method, path, JSON.stringify(valid), { headers: { ...bearer(cast.adminKey), ...JSON_TYPE, 'content-encoding': 'gzip' }, status: [400, 415] }), 'gzip content encoding'));
  cases.push(named(call(method, path, `{"name":"${'a'.repeat(70 * 1024)}"}`, { status: [413] }), '70 KB body'));
  cases.push(named(call(method, path, [Buffer.from('{"name":"'), ...Array.from({ length: 12 }, () => Buffer.alloc(8 * 1024, 0x61)), Buffer.from('"}')], { status: [413] }), '100 KB chunked body'));
  cases.push(named(call(method, path, JSON.stringify({ ...valid, extra: true })), 'unknown field'));
}
// Agent names are shown to humans: no bidi overrides, control characters or line breaks.
for (const [label, name] of [['bidi override', 'Helper\u202Egnp.exe'], ['newline', 'Good\nagent'], ['escape character', 'Bad\u001b[31m'], ['zero-width joiner only', '\u200d'], ['right-to-left isolate', 'a\u2067b']] as const) {
  cases.push(named(call('POST', '/agents', JSON.stringify({ name, owner_user_id: userId, scopes: ['files:read'], audiences: [API], token_endpoint_auth_method: 'client_secret_basic' })), `agent name with a ${label}`));
  cases.push(named(call('PATCH', `/agents/${agentId}`, JSON.stringify({ name })), `agent name with a ${label}`));
}
cases.push(named(call('POST', '/agents', JSON.stringify({ name: 'x', owner_user_id: userId, scopes: ['files:read'], audiences: [API], token_endpoint_auth_method: 'client_secret_basic', max_token_ttl: 1e308 })), 'huge max_token_ttl'));
cases.push(named(call('POST', '/resources', JSON.stringify({ identifier: 'https://n.example.test', name: 'n', scopes: [], access_token_ttl: 1e400 })), 'access_token_ttl of 1e400'));
cases.push(named(call('POST', '/revocations', JSON.stringify({ jti: 'x', agent_id: agentId, approval_id: uuid0 })), 'three targets at once'));
cases.push(named(call('POST', '/revocations', JSON.stringify({ approval_id: 'not-a-uuid' })), 'approval_id that is not a UUID'));
cases.push(named(call('POST', '/approvals', JSON.stringify({ user_id: cast.bob.id, agent_id: agentId, scopes: ['files:read'], resources: ['https://unknown.example.test'] })), 'approval for an unregistered resource'));

// --- keys: missing, malformed, forged, revoked, auditor writing (each refusal audited)
const keyCases: Array<[string, Record<string, string>, number, string | undefined]> = [
  ['no key', {}, 401, 'admin.refused'],
  ['a made-up key', bearer('aa_ak_madeup'), 401, 'admin.refused'],
  ['a key with NUL', { authorization: 'Bearer aa_ak_%00' }, 401, 'admin.refused'],
  ['Basic instead of Bearer', { authorization: 'Basic YTpi' }, 401, 'admin.refused'],
  ['an agent secret as a key', bearer(cast.agent.client_secret), 401, 'admin.refused'],
  ['an overlong key', bearer('a'.repeat(5000)), 401, undefined],
];
for (const [label, headers, status, audit] of keyCases) {
  for (const [method, path] of [['GET', '/users'], ['POST', '/revocations'], ['GET', '/audit']] as const) {
    cases.push(named(call(method, path, method === 'POST' ? '{"agent_id":"x"}' : undefined, { headers: { ...headers, ...(method === 'POST' ? JSON_TYPE : {}) }, status: [status === 401 && label === 'an overlong key' ? 400 : status, status], ...(audit ? { audit } : {}) }), label));
  }
}
for (const [method, path, body] of [
  ['POST', '/users', { username: 'mallory', password: 'correct horse battery staple' }],
  ['POST', '/revocations', { agent_id: agentId }],
  ['DELETE', `/approvals/${cast.aliceApproval.id}`, undefined],
  ['POST', `/agents/${agentId}/suspend`, undefined],
  ['POST', '/admin-keys', { name: 'escalate', role: 'admin' }],
  ['PATCH', `/users/${userId}`, { status: 'disabled' }],
] as const) {
  cases.push(named(call(method, path, body === undefined ? undefined : JSON.stringify(body), { headers: { ...bearer(cast.auditorKey), ...(body ? JSON_TYPE : {}) }, status: [403], audit: 'admin.refused' }), 'an auditor key writing'));
}

describe('hostile input at the admin API', () => {
  for (const c of cases) {
    it(`${c.name}: ${c.status?.join('/') ?? '4xx'}${c.audit ? `, audited as ${c.audit}` : ''}`, async () => {
      await runCase(cast, c);
    });
  }
});
