// A trusted issuer whose keys are published at a jwks_uri (https, fetched through the guarded outbound fetch and
// cached by jose's remote key set): an agentauth process trusting a throw-away CA (NODE_EXTRA_CA_CERTS) with the
// development loopback switch on, and a document server on a loopback port serving the issuer's JWKS. A key rotated
// at the issuer is picked up on the first assertion it signs (an unknown kid refetches the set).
import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { spawnServerTrusting, startDocumentServer, type DocumentServer } from '../support/metadata-documents.js';
import type { TestDatabase } from '../support/postgres-server.js';
import type { ServerProcess } from '../support/process.js';

const ADMIN_KEY = `aa_ak_${randomBytes(32).toString('base64url')}`;
const API = 'https://files.example.test';
const ISSUER = 'https://ci.example.test';
const SUBJECT = 'repo:acme/reports:ref:refs/heads/main';

let database: TestDatabase;
let documents: DocumentServer;
let server: ServerProcess;
let issuer: string;
let agentId: string;

async function admin(method: string, path: string, body?: unknown) {
  const response = await fetch(`${server.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (response.status === 204 ? undefined : await response.json()) as any };
}

async function keyPair(kid: string) {
  const pair = await generateKeyPair('ES256', { extractable: true });
  return { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' } as JWK };
}

async function assertion(key: Awaited<ReturnType<typeof keyPair>>) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid: key.jwk.kid! })
    .setIssuer(ISSUER).setSubject(SUBJECT).setAudience(issuer).setIssuedAt(now).setExpirationTime(now + 300)
    .sign(key.privateKey);
}

async function clientCredentials(jwt: string) {
  const response = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

beforeAll(async () => {
  documents = await startDocumentServer();
  ({ database, server, issuer } = await spawnServerTrusting(documents, ADMIN_KEY, 'jwks-uri'));
  expect((await admin('POST', '/resources', { identifier: API, name: 'Files', scopes: [{ name: 'files:read', description: 'Read files' }] })).status).toBe(201);
  const owner = await admin('POST', '/users', { username: 'owner', password: 'correct horse battery staple' });
  expect((await admin('POST', '/trusted-issuers', { issuer: ISSUER, jwks_uri: `${documents.origin}/ci/jwks`, purposes: ['workload'] })).status).toBe(201);
  const agent = await admin('POST', '/agents', { name: 'CI reporter', owner_user_id: owner.body.id, scopes: ['files:read'], audiences: [API], workload_identities: [{ issuer: ISSUER, subject: SUBJECT }] });
  expect(agent.status).toBe(201);
  agentId = agent.body.id;
}, 120_000);
afterAll(async () => {
  await server?.terminate();
  await documents?.close();
  await database?.drop();
});

it('verifies assertions with keys fetched from the jwks_uri, caches them, and follows a rotation', async () => {
  const first = await keyPair('ci-1');
  documents.publish('/ci/jwks', { keys: [first.jwk] });
  const answered = await clientCredentials(await assertion(first));
  expect(answered.status).toBe(200);
  expect(answered.body.access_token).toBeTruthy();
  expect((await clientCredentials(await assertion(first))).status).toBe(200);
  expect(documents.fetches('/ci/jwks')).toBe(1);

  // The issuer rotates: the new kid is unknown to the cached set, which is fetched again (at most every 30 s).
  const second = await keyPair('ci-2');
  documents.publish('/ci/jwks', { keys: [first.jwk, second.jwk] });
  await new Promise((resolve) => setTimeout(resolve, 31_000));
  expect((await clientCredentials(await assertion(second))).status).toBe(200);
  expect(documents.fetches('/ci/jwks')).toBe(2);

  // A key the issuer never published is refused, whatever it claims to be.
  const stranger = await keyPair('ci-2');
  const refused = await clientCredentials(await assertion(stranger));
  expect(refused).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  expect(agentId).toBeTruthy();
}, 90_000);

it('refuses to fetch keys over plain http, even from loopback', async () => {
  const response = await admin('POST', '/trusted-issuers', { issuer: 'https://plain.example.test', jwks_uri: 'http://127.0.0.1:9/jwks', purposes: ['workload'] });
  expect(response.status).toBe(400);
});
