// Signing and cookie keys over real HTTP: they survive restarts, rotate without a gap (what was signed before still
// verifies against the published JWKS, what is signed after uses the key that was published in advance), and a
// rotation through the CLI reaches every server on the database within moments, without a restart.
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadKeys, rotateKeys } from '../../src/keys/key-store.js';
import { parseKek } from '../../src/keys/kek.js';
import { rotationPolicy } from '../../src/keys/rotation-policy.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';
import { spawnServer, type ServerProcess } from '../support/process.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { clientCredentialsToken, fetchJwks, kidOf, newKek, publishedKids, runCli, verifyAgainst, waitFor } from '../support/keys.js';

const API = 'https://api.example.test';

async function registerApp(server: TestServer): Promise<{ clientId: string; clientSecret?: string }> {
  await server.stores.resources.create({ identifier: API, name: 'Example API', scopes: [{ name: 'files:read', description: 'Read files' }] });
  return server.stores.clients.createApp({ name: 'Batch job', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic', resources: [API], scopes: ['files:read'] });
}

describe('restarting on the same database and KEK', () => {
  let database: TestDatabase;
  const kek = newKek();
  afterAll(async () => {
    await database.drop();
  });

  it('serves the same keys, and tokens and clients from before the restart stay valid', async () => {
    database = await createTestDatabase();
    const first = await startTestServer({ database, kek });
    const app = await registerApp(first);
    const kidsBefore = await publishedKids(first.url);
    const tokenBefore = await clientCredentialsToken(first.url, app, { resource: API, scope: 'files:read' });
    await first.stop();

    const second = await startTestServer({ database, kek });
    try {
      expect(await publishedKids(second.url)).toEqual(kidsBefore);
      expect(kidsBefore).toHaveLength(2); // current and next
      const { jwks } = await fetchJwks(second.url);
      await expect(verifyAgainst(jwks, tokenBefore, { issuer: first.issuer, audience: API })).resolves.toMatchObject({ sub: app.clientId });
      const tokenAfter = await clientCredentialsToken(second.url, app, { resource: API, scope: 'files:read' });
      expect(kidOf(tokenAfter)).toBe(kidOf(tokenBefore));
    } finally {
      await second.stop();
    }
  }, 60_000);

  it('refuses to start with another KEK', async () => {
    await expect(startTestServer({ database, kek: newKek() })).rejects.toThrow(/wrong AGENTAUTH_KEK/);
  });
});

describe('rotation on a running server', () => {
  let server: TestServer;
  let app: { clientId: string; clientSecret?: string };
  beforeAll(async () => {
    server = await startTestServer();
    app = await registerApp(server);
  });
  afterAll(async () => {
    await server.stop();
  });

  const rotate = () => rotateKeys(server.db.prisma, parseKek(server.config.kek!), rotationPolicy(server.config, { force: true }));

  it('keeps tokens signed before it verifiable, signs with the former next key, and publishes an unused new next key', async () => {
    const before = await clientCredentialsToken(server.url, app, { resource: API, scope: 'files:read' });
    const kidsBefore = await publishedKids(server.url);

    const rotation = await rotate();
    expect(kidsBefore).toEqual([rotation.current, rotation.retired].sort());
    await waitFor(async () => (await publishedKids(server.url)).includes(rotation.next), 3_000, 'new JWKS served');

    const { jwks, cacheControl } = await fetchJwks(server.url);
    expect(cacheControl).toBe('public, max-age=300');
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([rotation.retired, rotation.current, rotation.next].sort());
    expect(JSON.stringify(jwks)).not.toMatch(/"d"/);
    await expect(verifyAgainst(jwks, before, { issuer: server.issuer, audience: API })).resolves.toMatchObject({ sub: app.clientId });
    expect(kidOf(before)).toBe(rotation.retired);

    const after = await Promise.all([1, 2, 3].map(() => clientCredentialsToken(server.url, app, { resource: API, scope: 'files:read' })));
    for (const token of after) {
      expect(kidOf(token)).toBe(rotation.current);
      await expect(verifyAgainst(jwks, token, { issuer: server.issuer, audience: API })).resolves.toMatchObject({ sub: app.clientId });
    }
  });

  it('still accepts a cookie signed before a cookie-key rotation, and signs new cookies with the new key', async () => {
    const webApp = await server.stores.clients.createApp({
      name: 'Web app',
      redirectUris: ['https://app.example.test/cb'],
      grantTypes: ['authorization_code'],
      authMethod: 'client_secret_basic',
    });
    const authorize = new URL(`${server.url}/auth`);
    authorize.search = new URLSearchParams({
      client_id: webApp.clientId,
      response_type: 'code',
      redirect_uri: 'https://app.example.test/cb',
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }).toString();
    const started = await fetch(authorize, { redirect: 'manual' });
    expect(started.status).toBe(303);
    const resume = resumeCookie(started);
    const cookieKeysBefore = (await loadKeys(server.db.prisma, parseKek(server.config.kek!))).cookie;
    expect(resume.sig).toBe(cookieSignature(cookieKeysBefore[0]!, resume));

    const rotation = await rotate();
    await waitFor(async () => (await publishedKids(server.url)).includes(rotation.next), 3_000, 'new keys applied');
    const cookieKeysAfter = (await loadKeys(server.db.prisma, parseKek(server.config.kek!))).cookie;
    expect(cookieKeysAfter[0]).not.toBe(cookieKeysBefore[0]);

    // Resuming the authorization reads the signed resume cookie: a bad signature is "authorization request has
    // expired" (400); a good one continues the flow to a fresh interaction (303), whose cookie the new key signs.
    const send = (sig: string) =>
      fetch(`${server.url}/auth/${resume.value}`, { redirect: 'manual', headers: { cookie: `${resume.name}=${resume.value}; ${resume.name}.sig=${sig}` } });
    expect((await send(`${resume.sig.slice(0, -2)}AA`)).status).toBe(400);
    const resumed = await send(resume.sig);
    expect(resumed.status).toBe(303);
    const renewed = resumeCookie(resumed);
    expect(renewed.sig).toBe(cookieSignature(cookieKeysAfter[0]!, renewed));
  });
});

/** The signed cookie that lets the browser resume an authorization request after an interaction. */
function resumeCookie(response: Response): { name: string; value: string; sig: string } {
  const cookies = new Map(
    response.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!.split('='))
      .map(([name, value]) => [name!, value!]),
  );
  const name = '_interaction_resume';
  const value = cookies.get(name);
  const sig = cookies.get(`${name}.sig`);
  if (!value || !sig) throw new Error(`no ${name} cookie in ${JSON.stringify([...cookies.keys()])}`);
  return { name, value, sig };
}

/** What Koa's signed cookies (keygrip: HMAC-SHA1, URL-safe base64) put in `<name>.sig`. */
function cookieSignature(key: string, cookie: { name: string; value: string }): string {
  return createHmac('sha1', key).update(`${cookie.name}=${cookie.value}`).digest('base64url');
}

describe('two servers on one database, rotated through the CLI', () => {
  let database: TestDatabase;
  let inProcess: TestServer;
  let spawned: ServerProcess;
  let dataDir: string;
  let env: Record<string, string>;
  const kek = newKek();

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-keys-'));
    env = { DATABASE_URL: database.url, AGENTAUTH_KEK: kek, AGENTAUTH_DATA_DIR: dataDir };
    inProcess = await startTestServer({ database, kek });
    spawned = await spawnServer(env);
  }, 90_000);
  afterAll(async () => {
    await spawned?.terminate();
    await inProcess?.stop();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('makes both serve the new JWKS and sign with the former next key within moments, without a restart', async () => {
    const app = await registerApp(inProcess);
    const servers = [
      { url: inProcess.url, issuer: inProcess.issuer },
      { url: spawned.url, issuer: `http://localhost:${new URL(spawned.url).port}` },
    ];
    const before = await Promise.all(servers.map((s) => clientCredentialsToken(s.url, app, { resource: API, scope: 'files:read' })));
    expect(new Set(before.map(kidOf)).size).toBe(1);

    // The next key was published a moment ago: resource servers' JWKS caches may not have it yet.
    const early = await runCli(['keys', 'rotate'], env);
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(/published \d+ s ago/);
    expect(await publishedKids(inProcess.url)).toHaveLength(2);

    const rotated = await runCli(['keys', 'rotate', '--force', '--json'], env);
    expect(rotated).toMatchObject({ code: 0 });
    const { current, next, retired } = JSON.parse(rotated.stdout) as { current: string; next: string; retired: string };
    expect(retired).toBe(kidOf(before[0]!));

    const took = await waitFor(
      async () => {
        const jwks = await Promise.all(servers.map((s) => publishedKids(s.url)));
        return jwks.every((kids) => kids.includes(next));
      },
      5_000,
      'both servers serving the new JWKS',
    );
    // Servers poll every 60 s: within seconds means the NOTIFY reached both.
    expect(took).toBeLessThan(3_000);

    for (const [i, server] of servers.entries()) {
      const { jwks } = await fetchJwks(server.url);
      expect(jwks.keys.map((k) => k.kid).sort()).toEqual([current, next, retired].sort());
      const token = await clientCredentialsToken(server.url, app, { resource: API, scope: 'files:read' });
      expect(kidOf(token)).toBe(current);
      await expect(verifyAgainst(jwks, token, { issuer: server.issuer, audience: API })).resolves.toMatchObject({ sub: app.clientId });
      await expect(verifyAgainst(jwks, before[i]!, { issuer: server.issuer, audience: API })).resolves.toMatchObject({ sub: app.clientId });
    }
    expect(spawned.logs.some((l) => l.msg === 'keys changed: now signing with the current key' && l.kid === current)).toBe(true);
  }, 60_000);

  it('lists keys with their states and dates, and no key material', async () => {
    const listed = await runCli(['keys', 'list', '--json'], env);
    expect(listed.code).toBe(0);
    const keys = JSON.parse(listed.stdout) as Array<{ kind: string; id: string; state: string; retire_after: string | null }>;
    expect(keys.filter((k) => k.kind === 'signing').map((k) => k.state)).toEqual(['current', 'next', 'retired']);
    expect(keys.filter((k) => k.kind === 'cookie').map((k) => k.state)).toEqual(['current', 'next', 'retired']);
    expect(keys.find((k) => k.state === 'retired')!.retire_after).toEqual(expect.any(String));
    expect(listed.stdout).not.toMatch(/"d"|encrypted|"x"/);

    const table = await runCli(['keys', 'list'], env);
    expect(table.stdout.split('\n').filter(Boolean)).toHaveLength(7); // header + 3 signing + 3 cookie keys
  }, 30_000);
});
