// Revocation by every selector, against a real server over HTTP: when the call returns, every affected token
// (including everything derived from it down an A → B → C delegation chain) is inactive at introspection and
// refused as a subject token, and tokens outside the selection still work. Counts are exact and repeats answer 0.
import { randomBytes } from 'node:crypto';
import { refreshTokenGrant, tokenIntrospection } from 'openid-client';
import { startTestServer, type TestServer } from '../support/server.js';
import { API, jtiOf, world, type Credentials } from './support.js';

const adminKey = `aa_admin_${randomBytes(32).toString('base64url')}`;
let server: TestServer;
let w: ReturnType<typeof world>;
let rs: Credentials; // the resource server's own client: introspects every token issued for API

beforeAll(async () => {
  server = await startTestServer({ env: { AGENTAUTH_BOOTSTRAP_ADMIN_KEY: adminKey } });
  w = world(server);
  await server.stores.resources.create({
    identifier: API,
    name: 'Files',
    scopes: [
      { name: 'files:read', description: 'Read your files' },
      { name: 'files:write', description: 'Change your files' },
    ],
  });
  const created = await server.stores.clients.createApp({ name: 'Files API', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic', resourceServer: API });
  rs = { id: created.clientId, secret: created.clientSecret! };
}, 60_000);
afterAll(async () => {
  await server.stop();
});

/** Two humans, and agents A, B, C approved by both; each test gets its own so revocations cannot interfere. */
async function fresh() {
  const human = async () => (await server.stores.users.create({ username: `u${randomBytes(5).toString('hex')}`, password: 'correct horse battery staple' })).id;
  const alice = await human();
  const bob = await human();
  const A = await w.agent('A', alice, [alice, bob]);
  const B = await w.agent('B', alice, [alice, bob]);
  const C = await w.agent('C', alice, [alice, bob]);
  return { alice, bob, A, B, C };
}

type Chain = Awaited<ReturnType<ReturnType<typeof world>['chain']>>;
type Held = { name: string; token: string; introspector: Credentials; holder: Credentials };

/** Each token of a chain, with who may introspect it and who would present it as a subject token. */
function held(chain: Chain, A: Credentials, B: Credentials, C: Credentials, prefix = ''): Held[] {
  return [
    { name: `${prefix}root`, token: chain.root, introspector: rs, holder: A },
    { name: `${prefix}aAtApi`, token: chain.aAtApi, introspector: rs, holder: A },
    { name: `${prefix}toB`, token: chain.toB, introspector: A, holder: B },
    { name: `${prefix}bAtApi`, token: chain.bAtApi, introspector: rs, holder: B },
    { name: `${prefix}toC`, token: chain.toC, introspector: B, holder: C },
    { name: `${prefix}cAtApi`, token: chain.cAtApi, introspector: rs, holder: C },
  ];
}

async function states(tokens: Held[]): Promise<Record<string, boolean>> {
  const result: Record<string, boolean> = {};
  for (const t of tokens) result[t.name] = await w.active(t.introspector, t.token);
  return result;
}

/** Inactive at introspection and refused as a subject token by the agent that holds it. */
async function expectDead(tokens: Held[], refusedWith = 'invalid_grant') {
  for (const t of tokens) {
    expect({ [t.name]: await w.active(t.introspector, t.token) }).toEqual({ [t.name]: false });
    expect({ [t.name]: await w.refusedExchange(t.holder, t.token) }).toEqual({ [t.name]: refusedWith });
  }
}

const pick = (tokens: Held[], ...names: string[]) => tokens.filter((t) => names.includes(t.name));
const except = (tokens: Held[], ...names: string[]) => tokens.filter((t) => !names.includes(t.name));
const allActive = (tokens: Held[]) => Object.fromEntries(tokens.map((t) => [t.name, true]));
const admin = { actor: { kind: 'admin' as const, id: 'test-admin' } };

it('by jti at the root: the whole A → B → C chain derived from it dies, another chain lives', async () => {
  const { alice, A, B, C } = await fresh();
  const chain = held(await w.chain(alice, A, B, C), A, B, C);
  const other = held(await w.chain(alice, A, B, C), A, B, C, 'other.');
  expect(await states([...chain, ...other])).toEqual(allActive([...chain, ...other]));

  expect(await server.stores.revocation.revoke({ jti: jtiOf(chain[0]!.token) }, admin)).toEqual({ revoked: 6 });
  await expectDead(chain);
  expect(await states(other)).toEqual(allActive(other));
  expect(await server.stores.revocation.revoke({ jti: jtiOf(chain[0]!.token) }, admin)).toEqual({ revoked: 0 });
});

it('by jti mid-chain: the delegated token and what was derived from it die, its parent lives', async () => {
  const { alice, A, B, C } = await fresh();
  const chain = held(await w.chain(alice, A, B, C), A, B, C);
  expect(await server.stores.revocation.revoke({ jti: jtiOf(pick(chain, 'toB')[0]!.token) }, admin)).toEqual({ revoked: 4 });
  await expectDead(pick(chain, 'toB', 'bAtApi', 'toC', 'cAtApi'));
  expect(await states(pick(chain, 'root', 'aAtApi'))).toEqual({ root: true, aAtApi: true });
});

it('by approval_id (through the admin API): what was issued under the approval and derived from it dies', async () => {
  const { alice, A, B, C } = await fresh();
  const chain = held(await w.chain(alice, A, B, C), A, B, C);
  const approval = (await server.stores.approvals.list({ limit: 10, agentId: B.id, userId: alice })).items[0]!;
  const response = await fetch(`${server.issuer}/admin/v1/revocations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ approval_id: approval.id }),
  });
  expect(response.status).toBe(200);
  // B's two exchanges used B's approval; C's token derives from one of them.
  expect(await response.json()).toEqual({ revoked: 3 });
  await expectDead(pick(chain, 'bAtApi', 'toC', 'cAtApi'));
  expect(await states(pick(chain, 'root', 'aAtApi', 'toB'))).toEqual({ root: true, aAtApi: true, toB: true });
  // Without the approval B cannot exchange again for alice.
  expect(await w.refusedExchange(B, pick(chain, 'toB')[0]!.token)).toBe('invalid_grant');
});

it('by agent_id: every token of the agent, delegated to it, or with it in the chain dies, for every human', async () => {
  const { alice, bob, A, B, C } = await fresh();
  const forAlice = held(await w.chain(alice, A, B, C), A, B, C, 'alice.');
  const forBob = held(await w.chain(bob, A, B, C), A, B, C, 'bob.');
  expect(await server.stores.revocation.revoke({ agentId: C.id }, admin)).toEqual({ revoked: 4 });
  await expectDead(pick([...forAlice, ...forBob], 'alice.toC', 'alice.cAtApi', 'bob.toC', 'bob.cAtApi'));
  const untouched = except([...forAlice, ...forBob], 'alice.toC', 'alice.cAtApi', 'bob.toC', 'bob.cAtApi');
  expect(await states(untouched)).toEqual(allActive(untouched));
});

it('by user_id: every token standing for the human dies, another human’s live on', async () => {
  const { alice, bob, A, B, C } = await fresh();
  const forAlice = held(await w.chain(alice, A, B, C), A, B, C, 'alice.');
  const forBob = held(await w.chain(bob, A, B, C), A, B, C, 'bob.');
  expect(await server.stores.revocation.revoke({ userId: alice }, admin)).toEqual({ revoked: 6 });
  await expectDead(forAlice);
  expect(await states(forBob)).toEqual(allActive(forBob));
});

it('by agent_id + user_id: the agent’s tokens for that human die; for another human, and without the agent, they live', async () => {
  const { alice, bob, A, B, C } = await fresh();
  const forAlice = held(await w.chain(alice, A, B, C), A, B, C, 'alice.');
  const forBob = held(await w.chain(bob, A, B, C), A, B, C, 'bob.');
  expect(await server.stores.revocation.revoke({ agentId: B.id, userId: alice }, admin)).toEqual({ revoked: 4 });
  await expectDead(pick(forAlice, 'alice.toB', 'alice.bAtApi', 'alice.toC', 'alice.cAtApi'));
  const untouched = [...pick(forAlice, 'alice.root', 'alice.aAtApi'), ...forBob];
  expect(await states(untouched)).toEqual(allActive(untouched));
});

it('suspending an agent mid-chain kills everything it holds or acted in; activation restores neither tokens nor approvals', async () => {
  const { alice, A, B, C } = await fresh();
  const chain = held(await w.chain(alice, A, B, C), A, B, C);
  expect(await server.stores.revocation.suspendAgent(B.id, admin)).toEqual({ revoked: 4 });
  // While suspended B cannot even authenticate (neither exchange nor introspect): the others check what it held.
  expect(await states(pick(chain, 'toB', 'bAtApi', 'cAtApi'))).toEqual({ toB: false, bAtApi: false, cAtApi: false });
  expect(await w.refusedExchange(B, pick(chain, 'toB')[0]!.token)).toBe('invalid_client');
  expect(await w.refusedExchange(C, pick(chain, 'toC')[0]!.token)).toBe('invalid_grant');
  expect(await w.refusedExchange(C, pick(chain, 'cAtApi')[0]!.token)).toBe('invalid_grant');
  expect(await states(pick(chain, 'root', 'aAtApi'))).toEqual({ root: true, aAtApi: true });

  await server.stores.revocation.activateAgent(B.id, admin);
  await expectDead(pick(chain, 'toB', 'bAtApi', 'toC', 'cAtApi'));
  // No approval came back: delegating to B again needs alice to approve B anew.
  const again = await w.exchange(A, { subject_token: chain[0]!.token, audience: B.id, resource: API }).catch((e: { error?: string; error_description?: string }) => e);
  expect(again).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(new RegExp(`not approved agent ${B.id}`)) });
});

it('disabling a human (admin API) revokes their tokens through the revocation service', async () => {
  const { alice, bob, A, B, C } = await fresh();
  const forAlice = held(await w.chain(alice, A, B, C), A, B, C, 'alice.');
  const forBob = held(await w.chain(bob, A, B, C), A, B, C, 'bob.');
  const response = await fetch(`${server.issuer}/admin/v1/users/${alice}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ status: 'disabled' }),
  });
  expect(response.status).toBe(200);
  await expectDead(forAlice);
  expect(await states(forBob)).toEqual(allActive(forBob));
  const events = await server.db.prisma.auditEvent.findMany({ where: { action: 'revocation', userId: alice } });
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ actorKind: 'admin', details: expect.objectContaining({ reason: 'user disabled', tokens_revoked: 6 }) });
});

it('refresh fails once the human is revoked, and the access tokens refreshed from it die', async () => {
  const provider = server.provider.current;
  const human = (await server.stores.users.create({ username: `r${randomBytes(5).toString('hex')}`, password: 'correct horse battery staple' })).id;
  const app = await server.stores.clients.createApp({ name: 'Printer', redirectUris: ['http://127.0.0.1:9/cb'], grantTypes: ['authorization_code', 'refresh_token'], authMethod: 'client_secret_basic', resources: [API], scopes: ['files:read', 'files:write'] });
  const printer = { id: app.clientId, secret: app.clientSecret! };
  // The state a completed code flow with offline_access leaves: a Grant and a refresh token under it (the browser
  // flow itself is covered by the page tests).
  const grant = new provider.Grant({ accountId: human, clientId: printer.id });
  grant.addOIDCScope('openid offline_access');
  const grantId = await grant.save();
  const refreshToken = await new provider.RefreshToken({
    accountId: human,
    client: await provider.Client.find(printer.id),
    grantId,
    scope: 'openid offline_access',
    gty: 'authorization_code',
  } as unknown as ConstructorParameters<typeof provider.RefreshToken>[0]).save();

  const config = await w.configFor(printer);
  const refreshed = await refreshTokenGrant(config, refreshToken);
  expect(refreshed.refresh_token).toEqual(expect.any(String));
  expect((await tokenIntrospection(config, refreshed.access_token)).active).toBe(true);

  const { revoked } = await server.stores.revocation.revoke({ userId: human }, admin);
  expect(revoked).toBeGreaterThanOrEqual(2); // the rotated refresh token and the access token (the first was consumed)
  expect((await tokenIntrospection(config, refreshed.access_token)).active).toBe(false);
  expect((await tokenIntrospection(config, refreshed.refresh_token!)).active).toBe(false);
  await expect(refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
});
