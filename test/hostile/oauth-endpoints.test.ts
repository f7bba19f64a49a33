// Hostile input at the OAuth endpoints (token, introspection, revocation, backchannel authentication, discovery,
// resource metadata, authorization, userinfo) and the security event poll: every case gets a 4xx in the RFC 6749
// JSON shape (pages for the browser endpoints), never a 5xx, changes nothing, and refusals are on the record.
import { API, TOKEN_EXCHANGE } from '../admin/support.js';
import { chunkedForm, FORM, JSON_TYPE, NASTY, runCase, startCast, type Cast, type HostileCase } from './support.js';

const cast: Cast = await startCast();
afterAll(() => cast.server.stop());

const CIBA = 'urn:openid:params:grant-type:ciba';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const enc = encodeURIComponent;
const b64 = (raw: Buffer | string) => Buffer.from(raw).toString('base64');
const forged = `${b64('{"alg":"ES256","typ":"at+jwt","kid":"x"}').replace(/=+$/, '')}.${b64('{"sub":"x","jti":"y"}').replace(/=+$/, '')}.AAAA`;

function token(name: string, body: string | Buffer | Buffer[], extra: Partial<HostileCase> = {}): HostileCase {
  return { name: `POST /token: ${name}`, method: 'POST', path: '/token', headers: { ...FORM, authorization: cast.basic(cast.agent) }, body, shape: 'oauth', ...extra };
}
function endpoint(path: string, name: string, body: string | Buffer | Buffer[], extra: Partial<HostileCase> = {}): HostileCase {
  return { name: `POST ${path}: ${name}`, method: 'POST', path, headers: { ...FORM, authorization: cast.basic(cast.rs) }, body, shape: 'oauth', ...extra };
}

const cases: HostileCase[] = [];

// Real credentials of one tenant, for cross-tenant and replay cases (made before any case counts rows).
const agentsOwnToken = await (async () => {
  const response = await fetch(`${cast.server.issuer}/token`, {
    method: 'POST',
    headers: { ...FORM, authorization: cast.basic(cast.agent) },
    body: `grant_type=client_credentials&resource=${enc(API)}&scope=files%3Aread`,
  });
  return ((await response.json()) as { access_token: string }).access_token;
})();
const alicesAuthReqId = await (async () => {
  const response = await fetch(`${cast.server.issuer}/backchannel`, {
    method: 'POST',
    headers: { ...FORM, authorization: cast.basic(cast.agent) },
    body: `login_hint=alice&scope=openid%20files%3Aread&resource=${enc(API)}`,
  });
  return ((await response.json()) as { auth_req_id: string }).auth_req_id;
})();
const asBob = { headers: { ...FORM, authorization: cast.basic(cast.bobsAgent) } };

// --- /token: every string parameter of every grant, with NUL and broken UTF-8
const tokenFields: Array<[string, (value: string) => string]> = [
  ['grant_type', (v) => `grant_type=${v}`],
  ['scope', (v) => `grant_type=client_credentials&resource=${enc(API)}&scope=${v}`],
  ['resource', (v) => `grant_type=client_credentials&resource=${v}`],
  ['exchange audience', (v) => `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=abc&subject_token_type=${enc(ACCESS)}&resource=${enc(API)}&audience=${v}`],
  ['exchange subject_token', (v) => `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=${v}&subject_token_type=${enc(ACCESS)}&resource=${enc(API)}`],
  ['exchange resource', (v) => `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=abc&subject_token_type=${enc(ACCESS)}&resource=${v}`],
  ['refresh_token', (v) => `grant_type=refresh_token&refresh_token=${v}`],
  ['auth_req_id', (v) => `grant_type=${enc(CIBA)}&auth_req_id=${v}`],
  ['code', (v) => `grant_type=authorization_code&code=${v}&redirect_uri=https%3A%2F%2Fa.example&code_verifier=${'a'.repeat(43)}`],
  ['client_id (client_secret_post)', (v) => `grant_type=client_credentials&client_id=${v}&client_secret=x`],
  ['parameter name', (v) => `grant_type=client_credentials&${v}=1`],
];
for (const [field, body] of tokenFields) {
  // Refused at the HTTP edge, before any client authentication: recorded as request.refused with the rule.
  for (const nasty of NASTY) cases.push(token(`${nasty.label} in ${field}`, body(nasty.encoded), { status: [400], audit: 'request.refused' }));
}
for (const field of ['scope', 'resource', 'refresh_token', 'auth_req_id']) {
  cases.push(token(`a 100 KB-long ${field} in a small body limit`, `grant_type=client_credentials&${field}=${'a'.repeat(20_000)}`, { status: [400] }));
}

// --- /token: Basic credentials that are not UTF-8, carry NUL, or are not base64 at all
const basicCredentials: Array<[string, string]> = [
  ['NUL in client id', `Basic ${b64(Buffer.from([0x61, 0x00, 0x3a, 0x62]))}`],
  ['percent-encoded NUL in client id', `Basic ${b64('a%00:b')}`],
  ['percent-encoded NUL in secret', `Basic ${b64(`${cast.agent.id}:%00`)}`],
  ['invalid UTF-8 in client id', `Basic ${b64(Buffer.from([0xff, 0xfe, 0x3a, 0x62]))}`],
  ['percent-encoded invalid UTF-8', `Basic ${b64('%FF%FE:secret')}`],
  ['no colon', `Basic ${b64('justanid')}`],
  ['not base64', 'Basic !!!!'],
  ['an overlong client id', `Basic ${b64(`${'a'.repeat(5000)}:b`)}`],
];
for (const [label, header] of basicCredentials) {
  cases.push(token(`Basic credentials: ${label}`, 'grant_type=client_credentials', { headers: { ...FORM, authorization: header }, status: [400, 401] }));
}

// --- /token: refusals before any grant handler runs are recorded
cases.push(token('unknown client', 'grant_type=client_credentials', { headers: { ...FORM, authorization: `Basic ${b64('nobody:secret')}` }, status: [401], audit: 'token.refused' }));
cases.push(token('wrong secret', 'grant_type=client_credentials', { headers: { ...FORM, authorization: `Basic ${b64(`${cast.agent.id}:wrong`)}` }, status: [401], audit: 'token.refused' }));
cases.push(token('exchange by an unknown client', `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=x&subject_token_type=${enc(ACCESS)}`, { headers: { ...FORM, authorization: `Basic ${b64('nobody:secret')}` }, status: [401], audit: 'token.refused' }));
cases.push(token('exchange with a wrong secret', `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=x&subject_token_type=${enc(ACCESS)}`, { headers: { ...FORM, authorization: `Basic ${b64(`${cast.agent.id}:wrong`)}` }, status: [401], audit: 'token.refused' }));
cases.push(token('exchange with a duplicated subject_token', `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=a&subject_token=b&subject_token_type=${enc(ACCESS)}&resource=${enc(API)}`, { status: [400], audit: 'token.refused' }));
cases.push(token('exchange with a duplicated grant_type', `grant_type=${enc(TOKEN_EXCHANGE)}&grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=a&subject_token_type=${enc(ACCESS)}`, { status: [400], audit: 'token.refused' }));
cases.push(token('exchange with a scope the agent may not have', `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=${forged}&subject_token_type=${enc(ACCESS)}&resource=${enc(API)}&scope=admin:everything`, { status: [400] }));
cases.push(token('client credentials with a scope outside the ceiling', `grant_type=client_credentials&resource=${enc(API)}&scope=mail:send`, { status: [400], audit: 'token.refused' }));
cases.push(token('client credentials for an audience the agent may not use', `grant_type=client_credentials&resource=${enc('https://other.example.test')}`, { status: [400], audit: 'token.refused' }));
cases.push(token('duplicate scope', `grant_type=client_credentials&resource=${enc(API)}&scope=files:read&scope=files:write`, { status: [400], audit: 'token.refused' }));
cases.push(token('array-style grant_type', `grant_type[]=client_credentials&resource=${enc(API)}`, { status: [400] }));
cases.push(token('array-style parameters in an exchange', `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token[]=a&subject_token_type=${enc(ACCESS)}&resource=${enc(API)}`, { status: [400] }));
cases.push(token('missing grant_type', 'scope=files:read', { status: [400] }));
cases.push(token('unsupported grant_type', 'grant_type=password&username=a&password=b', { status: [400] }));
cases.push(token('forged JWT as a subject token', `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=${forged}&subject_token_type=${enc(ACCESS)}&resource=${enc(API)}`, { status: [400] }));
cases.push(token('made-up refresh token', 'grant_type=refresh_token&refresh_token=made-up', { status: [400], audit: 'token.refused' }));
cases.push(token('made-up auth_req_id', `grant_type=${enc(CIBA)}&auth_req_id=made-up`, { status: [400] }));
cases.push(token('huge requested_lifetime', `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=a&subject_token_type=${enc(ACCESS)}&resource=${enc(API)}&requested_lifetime=1e400`, { status: [400] }));
cases.push(token('negative requested_lifetime', `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=a&subject_token_type=${enc(ACCESS)}&resource=${enc(API)}&requested_lifetime=-5`, { status: [400] }));

// --- cross-tenant and replayed credentials
cases.push(token("another agent polls alice's agent's auth_req_id", `grant_type=${enc(CIBA)}&auth_req_id=${alicesAuthReqId}`, { ...asBob, status: [400], audit: 'token.refused' }));
cases.push(token("another agent exchanges an agent's own token", `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=${agentsOwnToken}&subject_token_type=${enc(ACCESS)}&resource=${enc(API)}`, { ...asBob, status: [400], audit: 'token_exchange.refused' }));
cases.push(token("an agent's own token exchanged for delegated access", `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=${agentsOwnToken}&subject_token_type=${enc(ACCESS)}&resource=${enc(API)}`, { status: [400], audit: 'token_exchange.refused' }));
cases.push(token('an access token replayed as a refresh token', `grant_type=refresh_token&refresh_token=${agentsOwnToken}`, { status: [400], audit: 'token.refused' }));
cases.push(token('an access token replayed as an authorization code', `grant_type=authorization_code&code=${agentsOwnToken}&redirect_uri=https%3A%2F%2Fa.example&code_verifier=${'a'.repeat(43)}`, { status: [400, 401] }));
cases.push(token('a token with its signature cut off', `grant_type=${enc(TOKEN_EXCHANGE)}&subject_token=${agentsOwnToken.split('.').slice(0, 2).join('.')}.&subject_token_type=${enc(ACCESS)}&resource=${enc(API)}`, { status: [400] }));
cases.push({ name: "GET /me: an agent's JWT access token for a resource (not for userinfo)", path: '/me', headers: { authorization: `Bearer ${agentsOwnToken}` }, shape: 'oauth', status: [400, 401, 403] });

// --- /token: bodies in the wrong shape, size or encoding
cases.push(token('JSON body', '{"grant_type":"client_credentials"}', { headers: { ...JSON_TYPE, authorization: cast.basic(cast.agent) }, status: [400] }));
cases.push(token('text/plain body', 'grant_type=client_credentials', { headers: { 'content-type': 'text/plain', authorization: cast.basic(cast.agent) }, status: [400, 415] }));
cases.push(token('multipart body', '--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--x--', { headers: { 'content-type': 'multipart/form-data; boundary=x', authorization: cast.basic(cast.agent) }, status: [400, 415] }));
cases.push(token('gzip-encoded body', Buffer.from([0x1f, 0x8b, 0x08, 0x00]), { headers: { ...FORM, 'content-encoding': 'gzip', authorization: cast.basic(cast.agent) }, status: [400, 415] }));
cases.push(token('raw invalid UTF-8 bytes in the body', Buffer.from([0x67, 0x72, 0x61, 0x6e, 0x74, 0x5f, 0x74, 0x79, 0x70, 0x65, 0x3d, 0xff, 0xfe]), { status: [400] }));
cases.push(token('raw NUL in the body', Buffer.from('grant_type=client_credentials\u0000&scope=x'), { status: [400] }));
cases.push(token('100 KB body with content-length', `grant_type=client_credentials&x=${'a'.repeat(100 * 1024)}`, { status: [413] }));
cases.push(token('60 KB chunked body', chunkedForm(6 * 1024, 10), { status: [413], audit: 'request.refused' }));
cases.push(token('1 MB chunked body', chunkedForm(64 * 1024, 16), { status: [413] }));

// --- introspection and revocation: the same rules, and refusals on the record
for (const path of ['/token/introspection', '/token/revocation']) {
  const action = path.endsWith('introspection') ? 'introspection.refused' : 'revocation.refused';
  for (const nasty of NASTY) {
    cases.push(endpoint(path, `${nasty.label} in token`, `token=${nasty.encoded}`, { status: [400] }));
    cases.push(endpoint(path, `${nasty.label} in token_type_hint`, `token=abc&token_type_hint=${nasty.encoded}`, { status: [400] }));
  }
  cases.push(endpoint(path, 'unknown client', 'token=abc', { headers: { ...FORM, authorization: `Basic ${b64('nobody:secret')}` }, status: [401], audit: action }));
  cases.push(endpoint(path, 'wrong secret', 'token=abc', { headers: { ...FORM, authorization: `Basic ${b64(`${cast.rs.id}:wrong`)}` }, status: [401], audit: action }));
  cases.push(endpoint(path, 'no client authentication', 'token=abc', { headers: FORM, status: [400, 401], audit: action }));
  cases.push(endpoint(path, 'missing token', 'token_type_hint=access_token', { status: [400], audit: action }));
  cases.push(endpoint(path, 'duplicate token', 'token=a&token=b', { status: [400], audit: action }));
  cases.push(endpoint(path, 'Basic credentials with NUL', 'token=abc', { headers: { ...FORM, authorization: `Basic ${b64('a%00:b')}` }, status: [400, 401] }));
  cases.push(endpoint(path, '60 KB chunked body', chunkedForm(6 * 1024, 10), { status: [413] }));
  cases.push(endpoint(path, '100 KB body', `token=${'a'.repeat(100 * 1024)}`, { status: [413] }));
  cases.push(endpoint(path, 'JSON body', '{"token":"abc"}', { headers: { ...JSON_TYPE, authorization: cast.basic(cast.rs) }, status: [400] }));
  cases.push(endpoint(path, 'raw invalid UTF-8', Buffer.from([0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x3d, 0xc3, 0x28]), { status: [400] }));
  cases.push(endpoint(path, 'token given as an array', `token[]=${forged}`, { status: [400], audit: action }));
}

// --- backchannel authentication (CIBA)
const cibaBody = (extra: string) => `scope=openid%20files%3Aread&resource=${enc(API)}&${extra}`;
const backchannel = (name: string, body: string | Buffer | Buffer[], extra: Partial<HostileCase> = {}) =>
  endpoint('/backchannel', name, body, { headers: { ...FORM, authorization: cast.basic(cast.agent) }, ...extra });
for (const nasty of NASTY) {
  cases.push(backchannel(`${nasty.label} in login_hint`, cibaBody(`login_hint=${nasty.encoded}`), { status: [400] }));
  cases.push(backchannel(`${nasty.label} in binding_message`, cibaBody(`login_hint=alice&binding_message=${nasty.encoded}`), { status: [400] }));
  cases.push(backchannel(`${nasty.label} in scope`, `scope=${nasty.encoded}&login_hint=alice&resource=${enc(API)}`, { status: [400] }));
  cases.push(backchannel(`${nasty.label} in resource`, `scope=openid&login_hint=alice&resource=${nasty.encoded}`, { status: [400] }));
}
cases.push(backchannel('bidi override in binding_message', cibaBody('login_hint=alice&binding_message=pay%E2%80%AEevil'), { status: [400], audit: 'backchannel_authentication.refused' }));
cases.push(backchannel('newline in binding_message', cibaBody('login_hint=alice&binding_message=a%0Ab'), { status: [400], audit: 'backchannel_authentication.refused' }));
cases.push(backchannel('huge requested_expiry', cibaBody('login_hint=alice&requested_expiry=1e400'), { status: [400] }));
cases.push(backchannel('negative requested_expiry', cibaBody('login_hint=alice&requested_expiry=-1'), { status: [400] }));
cases.push(backchannel('login_hint of 10,000 characters', cibaBody(`login_hint=${'a'.repeat(10_000)}`), { status: [400] }));
cases.push(backchannel('unknown client', cibaBody('login_hint=alice'), { headers: { ...FORM, authorization: `Basic ${b64('nobody:x')}` }, status: [401], audit: 'backchannel_authentication.refused' }));
cases.push(backchannel('an app, not an agent', cibaBody('login_hint=alice'), { headers: { ...FORM, authorization: cast.basic(cast.rs) }, status: [400, 401] }));
cases.push(backchannel('two resources', `scope=openid%20files%3Aread&login_hint=alice&resource=${enc(API)}&resource=${enc('https://other.example.test')}`, { status: [400] }));
cases.push(backchannel('60 KB chunked body', chunkedForm(6 * 1024, 10), { status: [413] }));
cases.push(backchannel('JSON body', '{"login_hint":"alice"}', { headers: { ...JSON_TYPE, authorization: cast.basic(cast.agent) }, status: [400] }));

// --- GET endpoints: query strings
for (const nasty of NASTY) {
  cases.push({ name: `GET /resource-metadata: ${nasty.label} in resource`, path: `/resource-metadata?resource=${nasty.encoded}`, shape: 'oauth', status: [400] });
  cases.push({ name: `GET /.well-known/openid-configuration: ${nasty.label} in the query`, path: `/.well-known/openid-configuration?x=${nasty.encoded}`, shape: 'oauth', status: [400] });
  cases.push({ name: `GET /jwks: ${nasty.label} in the query`, path: `/jwks?x=${nasty.encoded}`, shape: 'oauth', status: [400] });
  cases.push({ name: `GET /auth: ${nasty.label} in client_id`, path: `/auth?client_id=${nasty.encoded}&response_type=code&scope=openid`, shape: 'page', status: [400] });
  cases.push({ name: `GET /auth: ${nasty.label} in redirect_uri`, path: `/auth?client_id=${cast.agent.id}&response_type=code&scope=openid&redirect_uri=${nasty.encoded}`, shape: 'page', status: [400] });
  cases.push({ name: `GET /me: ${nasty.label} in access_token`, path: `/me?access_token=${nasty.encoded}`, shape: 'oauth', status: [400, 401] });
}
cases.push({ name: 'GET /resource-metadata: resource given twice', path: `/resource-metadata?resource=${enc(API)}&resource=${enc(API)}`, shape: 'oauth', status: [400] });
cases.push({ name: 'GET /resource-metadata: array resource', path: `/resource-metadata?resource[]=${enc(API)}`, shape: 'oauth', status: [400] });
cases.push({ name: 'GET /resource-metadata: a 10 KB resource', path: `/resource-metadata?resource=${'a'.repeat(10_000)}`, shape: 'oauth', status: [400, 404, 414] });
cases.push({ name: 'GET /interaction/<NUL>', path: '/interaction/%00', shape: 'page', status: [400, 404] });
cases.push({ name: 'GET /interaction/<invalid UTF-8>', path: '/interaction/%FF', shape: 'page', status: [400, 404] });
cases.push({ name: 'GET /me: forged bearer token', path: '/me', headers: { authorization: `Bearer ${forged}` }, shape: 'oauth', status: [400, 401] });

// --- the security event poll (RFC 8936): Basic credentials reach the client registry
const poll = (name: string, body: string | Buffer | Buffer[] | undefined, extra: Partial<HostileCase> = {}): HostileCase => ({
  name: `POST /events/poll: ${name}`, method: 'POST', path: '/events/poll', headers: { ...JSON_TYPE, authorization: cast.basic(cast.rs) }, ...(body === undefined ? {} : { body }), shape: 'oauth', ...extra,
});
cases.push(poll('no credentials', '{}', { headers: JSON_TYPE, status: [401], audit: 'events.refused' }));
cases.push(poll('wrong secret', '{}', { headers: { ...JSON_TYPE, authorization: `Basic ${b64(`${cast.rs.id}:wrong`)}` }, status: [401], audit: 'events.refused' }));
cases.push(poll('unknown client', '{}', { headers: { ...JSON_TYPE, authorization: `Basic ${b64('nobody:secret')}` }, status: [401], audit: 'events.refused' }));
cases.push(poll('an agent, not a resource server', '{}', { headers: { ...JSON_TYPE, authorization: cast.basic(cast.agent) }, status: [403], audit: 'events.refused' }));
cases.push(poll('NUL in the Basic client id', '{}', { headers: { ...JSON_TYPE, authorization: `Basic ${b64('a%00:b')}` }, status: [400, 401] }));
cases.push(poll('raw NUL in the Basic client id', '{}', { headers: { ...JSON_TYPE, authorization: `Basic ${b64(Buffer.from([0x61, 0x00, 0x3a, 0x62]))}` }, status: [400, 401] }));
cases.push(poll('invalid UTF-8 in the Basic client id', '{}', { headers: { ...JSON_TYPE, authorization: `Basic ${b64('%C3%28:b')}` }, status: [400, 401] }));
cases.push(poll('NUL in an ack', '{"ack":["a\\u0000b"]}', { status: [400] }));
cases.push(poll('lone surrogate in an ack', '{"ack":["\\ud800"]}', { status: [400] }));
cases.push(poll('maxEvents as a string', '{"maxEvents":"10"}', { status: [400] }));
cases.push(poll('huge maxEvents', '{"maxEvents":1e400}', { status: [400] }));
cases.push(poll('array body', '[1,2,3]', { status: [400] }));
cases.push(poll('not JSON', 'maxEvents=1', { status: [400, 415] }));
cases.push(poll('form content type', 'maxEvents=1', { headers: { ...FORM, authorization: cast.basic(cast.rs) }, status: [400, 415] }));
cases.push(poll('100 KB body', `{"ack":["${'a'.repeat(100 * 1024)}"]}`, { status: [413] }));
cases.push(poll('200 KB chunked body', [Buffer.from('{"ack":["'), ...Array.from({ length: 25 }, () => Buffer.alloc(8 * 1024, 0x61))], { status: [413] }));
cases.push(poll('GET instead of POST', undefined, { method: 'GET', status: [405] }));

describe('hostile input at the OAuth endpoints', () => {
  for (const c of cases) {
    it(`${c.name}: ${c.status?.join('/') ?? '4xx'}${c.audit ? `, audited as ${c.audit}` : ''}`, async () => {
      await runCase(cast, c);
    });
  }
});

