// The RFC 8936 poll feed of signed Security Event Tokens, exercised by a sample resource server: it verifies access
// tokens locally against the JWKS (never introspecting) and learns revocations by polling the feed, so a token
// revoked at the authorization server is refused there after the next poll.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { SESSION_REVOKED } from '../../src/revocation/security-events.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { API, jtiOf, world, type Credentials } from './support.js';

const OTHER = 'https://other.example.test';
let server: TestServer;
let w: ReturnType<typeof world>;
let rsApi: Credentials;
let rsOther: Credentials;
let plainApp: Credentials;
let alice: string;

beforeAll(async () => {
  server = await startTestServer();
  w = world(server);
  for (const identifier of [API, OTHER]) {
    await server.stores.resources.create({ identifier, name: identifier, scopes: [{ name: 'files:read', description: 'Read' }, { name: 'files:write', description: 'Write' }] });
  }
  const app = async (name: string, resourceServer?: string) => {
    const created = await server.stores.clients.createApp({ name, redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic', ...(resourceServer ? { resourceServer } : {}) });
    return { id: created.clientId, secret: created.clientSecret! };
  };
  rsApi = await app('Files API', API);
  rsOther = await app('Other API', OTHER);
  plainApp = await app('Plain app');
  alice = (await server.stores.users.create({ username: 'alice', password: 'correct horse battery staple' })).id;
}, 60_000);
afterAll(async () => {
  await server.stop();
});

type PollAnswer = { sets: Record<string, string>; moreAvailable: boolean };

async function poll(as: Credentials | undefined, body: Record<string, unknown>): Promise<{ status: number; body: PollAnswer & { error?: string } }> {
  const response = await fetch(`${server.issuer}/events/poll`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(as ? { authorization: `Basic ${Buffer.from(`${encodeURIComponent(as.id)}:${encodeURIComponent(as.secret)}`).toString('base64')}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as PollAnswer & { error?: string } };
}

/** A resource server as a customer would write one: local JWT validation plus the revocation feed. */
async function startSampleResourceServer(credentials: Credentials, audience: string) {
  const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  const revoked = new Set<string>();
  const received: Array<Record<string, unknown>> = [];
  const httpServer = http.createServer(async (req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    try {
      if (!token) throw new Error('no token');
      const { payload } = await jwtVerify(token, jwks, { issuer: server.issuer, audience, typ: 'at+jwt' });
      if (revoked.has(payload.jti!)) {
        res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token", error_description="revoked"' }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: payload.sub, act: payload.act }));
    } catch {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end();
    }
  });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/files`;

  /** Processes every SET the feed has for it, verifying each, and acknowledges them. */
  async function sync(returnImmediately = true): Promise<number> {
    const answer = await poll(credentials, { returnImmediately, maxEvents: 100 });
    if (answer.status !== 200) throw new Error(`poll failed: ${answer.status} ${JSON.stringify(answer.body)}`);
    const ack: string[] = [];
    for (const [jti, set] of Object.entries(answer.body.sets)) {
      const { payload, protectedHeader } = await jwtVerify(set, jwks, { issuer: server.issuer, audience, typ: 'secevent+jwt' });
      expect(payload.jti).toBe(jti);
      expect(protectedHeader.kid).toEqual(expect.any(String));
      const event = (payload.events as Record<string, Record<string, unknown>>)[SESSION_REVOKED];
      const subject = payload.sub_id as { format: string; iss: string; jti: string };
      if (event && subject.format === 'jwt_id' && subject.iss === server.issuer) revoked.add(subject.jti);
      received.push(payload as Record<string, unknown>);
      ack.push(jti);
    }
    if (ack.length > 0) expect((await poll(credentials, { ack, maxEvents: 0, returnImmediately: true })).status).toBe(200);
    return ack.length;
  }

  return {
    url,
    received,
    sync,
    call: async (token: string) => (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status,
    close: () => new Promise<void>((resolve) => httpServer.close(() => resolve())),
  };
}

it('a sample resource server refuses a revoked token after polling the feed, without introspecting', async () => {
  const rs = await startSampleResourceServer(rsApi, API);
  try {
    const A = await w.agent('A', alice, [alice]);
    const B = await w.agent('B', alice, [alice]);
    const C = await w.agent('C', alice, [alice]);
    const chain = await w.chain(alice, A, B, C);
    for (const token of [chain.aAtApi, chain.bAtApi, chain.cAtApi]) expect(await rs.call(token)).toBe(200);
    expect(await rs.sync()).toBe(0);

    await server.stores.revocation.suspendAgent(B.id, { actor: { kind: 'admin', id: 'ops' } });
    // Local validation alone still accepts: the signature and expiry are fine. The feed is what tells.
    expect(await rs.call(chain.bAtApi)).toBe(200);
    expect(await rs.sync()).toBe(4); // toB, bAtApi, toC, cAtApi were all meant for this resource server
    expect(await rs.call(chain.bAtApi)).toBe(401);
    expect(await rs.call(chain.cAtApi)).toBe(401);
    expect(await rs.call(chain.aAtApi)).toBe(200);

    const aboutC = rs.received.find((p) => (p.sub_id as { jti: string }).jti === jtiOf(chain.cAtApi))!;
    expect(aboutC).toMatchObject({
      iss: server.issuer,
      aud: API,
      sub_id: { format: 'jwt_id', iss: server.issuer, jti: jtiOf(chain.cAtApi) },
      events: {
        [SESSION_REVOKED]: {
          initiating_entity: 'admin',
          reason_admin: { en: 'agent suspended' },
          sub: alice,
          sub_profile: 'user',
          client_id: C.id,
          actor_chain: [
            { sub: C.id, sub_profile: 'ai_agent' },
            { sub: B.id, sub_profile: 'ai_agent' },
            { sub: A.id, sub_profile: 'ai_agent' },
          ],
          event_timestamp: expect.any(Number),
        },
      },
    });
    // Acknowledged events are not delivered again.
    expect(await rs.sync()).toBe(0);
  } finally {
    await rs.close();
  }
});

it('delivers events only to the resource server they concern, in batches, until acknowledged', async () => {
  const A = await w.agent('A2', alice, [alice]);
  const tokens = [await w.exchange(A, { subject_token: await w.humanToken(alice, A.id), resource: API })];
  tokens.push(await w.exchange(A, { subject_token: await w.humanToken(alice, A.id), resource: API }));
  expect(await server.stores.revocation.revoke({ agentId: A.id }, { actor: { kind: 'system' } })).toEqual({ revoked: 4 });

  expect((await poll(rsOther, { returnImmediately: true })).body).toEqual({ sets: {}, moreAvailable: false });
  const first = await poll(rsApi, { returnImmediately: true, maxEvents: 1 });
  expect(first.status).toBe(200);
  expect(Object.keys(first.body.sets)).toHaveLength(1);
  expect(first.body.moreAvailable).toBe(true);
  expect(decodeProtectedHeader(Object.values(first.body.sets)[0]!).typ).toBe('secevent+jwt');
  // Acknowledged by another resource server only, so not acknowledged at all: delivered again.
  expect((await poll(rsOther, { returnImmediately: true, maxEvents: 0, ack: Object.keys(first.body.sets) })).status).toBe(200);
  const again = await poll(rsApi, { returnImmediately: true, maxEvents: 1 });
  expect(Object.keys(again.body.sets)).toEqual(Object.keys(first.body.sets));
  // The human's two subject tokens and the two exchanged tokens, all for API.
  const all = await poll(rsApi, { returnImmediately: true, ack: Object.keys(first.body.sets) });
  expect(Object.keys(all.body.sets)).toHaveLength(3);
  expect(all.body.moreAvailable).toBe(false);
  const done = await poll(rsApi, { returnImmediately: true, ack: Object.keys(all.body.sets) });
  expect(done.body).toEqual({ sets: {}, moreAvailable: false });
  // The acknowledgements are recorded against the events.
  const jtis = new Set((await server.db.prisma.securityEvent.findMany({ where: { audience: API, acknowledgedAt: { not: null } } })).map((e) => e.jti));
  for (const jti of [...Object.keys(first.body.sets), ...Object.keys(all.body.sets)]) expect(jtis.has(jti)).toBe(true);
});

it('a long poll answers as soon as a revocation happens', async () => {
  const A = await w.agent('A3', alice, [alice]);
  const token = await w.exchange(A, { subject_token: await w.humanToken(alice, A.id), resource: API });
  await poll(rsApi, { returnImmediately: true, maxEvents: 0 }); // nothing pending
  const started = Date.now();
  const waiting = poll(rsApi, { returnImmediately: false });
  await new Promise((resolve) => setTimeout(resolve, 500));
  await server.stores.revocation.revoke({ jti: jtiOf(token) }, { actor: { kind: 'admin', id: 'ops' } });
  const answer = await waiting;
  expect(Date.now() - started).toBeLessThan(5_000);
  const sets = Object.values(answer.body.sets);
  expect(sets).toHaveLength(1);
  const { payload } = await jwtVerify(sets[0]!, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), { typ: 'secevent+jwt', audience: API });
  expect(payload.sub_id).toMatchObject({ jti: jtiOf(token) });
  await poll(rsApi, { returnImmediately: true, maxEvents: 0, ack: Object.keys(answer.body.sets) });
});

it('only a resource server’s own client may poll', async () => {
  expect((await poll(undefined, {})).status).toBe(401);
  expect((await poll({ id: rsApi.id, secret: 'wrong' }, {})).status).toBe(401);
  expect((await poll(plainApp, {})).status).toBe(403);
  expect((await poll(rsApi, { maxEvents: 'many' })).status).toBe(400);
  expect((await fetch(`${server.issuer}/events/poll`)).status).toBe(405);
});
