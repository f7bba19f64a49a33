// GET /admin/v1/tokens: records of issued tokens, never the tokens. An agent's tokens include those naming it in
// their actor chain (it delegated onward); `active` means neither revoked nor expired.
import { mintHumanToken } from '../support/tokens.js';
import {
  adminClient,
  agentToken,
  API,
  approve,
  createAgent,
  createUser,
  exchangeToken,
  jtiOf,
  seed,
  startAdminServer,
  type AdminCall,
  type AdminServer,
} from './support.js';

let server: AdminServer;
let admin: AdminCall;
const jtis: Record<string, string> = {};
const raw: string[] = [];
let human: { id: string };
let a: { id: string; client_secret: string };
let b: { id: string; client_secret: string };

beforeAll(async () => {
  server = await startAdminServer();
  admin = adminClient(server, server.adminKey);
  const ownerId = (await seed(admin)).user.id;
  human = await createUser(admin, 'token-human');
  a = await createAgent(admin, ownerId, 'Delegating agent A');
  b = await createAgent(admin, ownerId, 'Next agent B');
  await approve(admin, human.id, a.id);
  await approve(admin, human.id, b.id);

  const keep = (name: string, token: string) => {
    raw.push(token);
    jtis[name] = jtiOf(token);
    return token;
  };
  keep('aOwn', await agentToken(server, a));
  keep('bOwn', await agentToken(server, b));
  const subject = keep('subject', await mintHumanToken(server, { userId: human.id, clientId: a.id, resource: API, scopes: ['files:read'] }));
  const toB = keep('aToB', await exchangeToken(server, a, subject, { audience: b.id, scope: 'files:read' }));
  keep('bForHuman', await exchangeToken(server, b, toB));
  keep('expired', await mintHumanToken(server, { userId: human.id, clientId: b.id, resource: API, scopes: ['files:read'], lifetime: 1 }));
  keep('revoked', await agentToken(server, a));
  await admin('POST', '/revocations', { jti: jtis.revoked });
  await new Promise((resolve) => setTimeout(resolve, 1_100)); // `expired` expires
}, 60_000);
afterAll(async () => {
  await server.stop();
});

const listed = async (query: string) => (await admin('GET', `/tokens?${query}&limit=200`)).body.items as Array<Record<string, unknown>>;
const names = (items: Array<Record<string, unknown>>) =>
  Object.entries(jtis)
    .filter(([, jti]) => items.some((item) => item.jti === jti))
    .map(([name]) => name)
    .sort();

it('by agent: tokens it holds as the client and tokens naming it in the actor chain', async () => {
  expect(names(await listed(`agent_id=${a.id}`))).toEqual(['aOwn', 'aToB', 'bForHuman', 'revoked', 'subject']);
  expect(names(await listed(`agent_id=${b.id}`))).toEqual(['bForHuman', 'bOwn', 'expired']);
});

it('by human: the tokens whose subject is the human', async () => {
  expect(names(await listed(`user_id=${human.id}`))).toEqual(['aToB', 'bForHuman', 'expired', 'subject']);
});

it('by activity: active excludes revoked and expired tokens, inactive holds exactly those', async () => {
  expect(names(await listed('active=true'))).toEqual(['aOwn', 'aToB', 'bForHuman', 'bOwn', 'subject']);
  expect(names(await listed('active=false'))).toEqual(['expired', 'revoked']);
  expect(names(await listed(`agent_id=${b.id}&user_id=${human.id}&active=true`))).toEqual(['bForHuman']);
});

it('shows each record’s fields, never a token, newest first', async () => {
  const response = await admin('GET', '/tokens?limit=200');
  for (const token of raw) expect(JSON.stringify(response.body)).not.toContain(token);
  const items = response.body.items as Array<Record<string, unknown>>;
  const issuedAt = items.map((item) => Date.parse(item.issued_at as string));
  expect(issuedAt).toEqual([...issuedAt].sort((x, y) => y - x));

  const delegated = items.find((item) => item.jti === jtis.bForHuman)!;
  expect(Object.keys(delegated).sort()).toEqual(
    [
      'jti', 'kind', 'format', 'parent_jti', 'subject', 'subject_kind', 'actor_chain', 'client_id', 'scopes', 'audience', 'resource',
      'grant_type', 'approval_id', 'issued_at', 'expires_at', 'revoked_at', 'revocation_reason',
    ].sort(),
  );
  expect(delegated).toMatchObject({
    kind: 'access_token',
    format: 'jwt',
    parent_jti: jtis.aToB,
    subject: human.id,
    subject_kind: 'human',
    actor_chain: [
      { sub: b.id, kind: 'agent' },
      { sub: a.id, kind: 'agent' },
    ],
    client_id: b.id,
    scopes: ['files:read'],
    audience: API,
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    approval_id: expect.any(String),
    revoked_at: null,
  });
  expect(items.find((item) => item.jti === jtis.revoked)).toMatchObject({ revoked_at: expect.any(String), revocation_reason: expect.any(String) });
});

it('shows one record with its decision trail: the approval, the ceilings and the limit that set its lifetime', async () => {
  const response = await admin('GET', `/tokens/${jtis.bForHuman}`);
  expect(response.status).toBe(200);
  expect(response.body).toMatchObject({ jti: jtis.bForHuman, client_id: b.id, scopes: ['files:read'] });
  const trail = response.body.decision as Array<{ limit: string; detail: string; seconds?: number }>;
  expect(trail.map((entry) => entry.limit)).toEqual(expect.arrayContaining(['approval', 'lifetime']));
  expect(trail.find((entry) => entry.limit === 'approval')?.detail).toContain(b.id);
  expect(trail.find((entry) => entry.limit === 'lifetime')?.seconds).toBeGreaterThan(0);

  // A client-credentials token records its trail too; an unknown or malformed jti is 404, never a 500.
  expect((await admin('GET', `/tokens/${jtis.aOwn}`)).body.decision).toEqual(expect.arrayContaining([expect.objectContaining({ limit: 'lifetime' })]));
  expect((await admin('GET', '/tokens/no-such-token')).status).toBe(404);
  expect((await admin('GET', `/tokens/${encodeURIComponent('../users')}`)).status).toBe(404);
});
