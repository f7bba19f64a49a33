// Contract tests of oidc-provider's storage on PostgreSQL, against a real database with real concurrency.
import { errors, type AdapterPayload } from 'oidc-provider';
import { connectDatabase, type Database } from '../../src/db/client.js';
import { createAdapterFactory, sweepExpiredPayloads, type AdapterFactory } from '../../src/oauth/adapter.js';
import { createLogger } from '../../src/observability/logger.js';
import { createSecretHasher } from '../../src/secrets/secret-hasher.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';

const MODELS = [
  'Grant', 'Session', 'AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials',
  'InitialAccessToken', 'RegistrationAccessToken', 'DeviceCode', 'Interaction', 'ReplayDetection',
  'BackchannelAuthenticationRequest', 'PushedAuthorizationRequest',
] as const;

let database: TestDatabase;
let db: Database;
let Adapter: AdapterFactory;
const hasher = createSecretHasher(Buffer.alloc(32, 7));
const registeredClients = new Map([['app-1', { client_id: 'app-1', client_name: 'App One' }]]);

beforeAll(async () => {
  database = await createTestDatabase();
  db = connectDatabase(database.url, createLogger('silent'), 20);
  Adapter = createAdapterFactory(db.prisma, {
    hashId: hasher.hash,
    clients: { findMetadata: async (id) => registeredClients.get(id) },
  });
});

afterAll(async () => {
  await db.close();
  await database.drop();
});

/** Ages a row directly in the table, where bearer ids sit under their keyed hash. */
async function expireRow(model: string, id: string, expiresAt: Date): Promise<void> {
  const { count } = await db.prisma.oidcPayload.updateMany({ where: { model, id: { in: [id, hasher.hash(id)] } }, data: { expiresAt } });
  expect(count).toBe(1);
}

let seq = 0;
const id = (label: string) => `${label}-${++seq}-${Math.random().toString(36).slice(2)}`;

describe.each(MODELS)('%s', (model) => {
  it('finds what it stored, with the stored payload, and forgets it on destroy', async () => {
    const adapter = Adapter(model);
    const key = id(model);
    const payload: AdapterPayload = { jti: key, kind: model, grantId: id('grant'), scope: 'openid', exp: 1 };
    await adapter.upsert(key, payload, 60);
    await expect(adapter.find(key)).resolves.toEqual(payload);
    await adapter.destroy(key);
    await expect(adapter.find(key)).resolves.toBeUndefined();
  });

  it('replaces the payload on a second upsert of the same id', async () => {
    const adapter = Adapter(model);
    const key = id(model);
    await adapter.upsert(key, { jti: key, scope: 'a' }, 60);
    await adapter.upsert(key, { jti: key, scope: 'b' }, 60);
    await expect(adapter.find(key)).resolves.toEqual({ jti: key, scope: 'b' });
  });

  it('never returns an expired row', async () => {
    const adapter = Adapter(model);
    const key = id(model);
    await adapter.upsert(key, { jti: key }, 1);
    await expect(adapter.find(key)).resolves.toEqual({ jti: key });
    await expireRow(model, key, new Date(Date.now() - 1));
    await expect(adapter.find(key)).resolves.toBeUndefined();
  });

  it('keeps rows stored without an expiry', async () => {
    const adapter = Adapter(model);
    const key = id(model);
    await adapter.upsert(key, { jti: key });
    await expect(adapter.find(key)).resolves.toEqual({ jti: key });
  });

  it('does not see rows of another model with the same id', async () => {
    const key = id(model);
    await Adapter(model).upsert(key, { jti: key }, 60);
    const other = MODELS.find((m) => m !== model)!;
    await expect(Adapter(other).find(key)).resolves.toBeUndefined();
  });

  it('revokeByGrantId removes every row of that grant and no other', async () => {
    const adapter = Adapter(model);
    const grantId = id('grant');
    const otherGrant = id('grant');
    const mine = [id(model), id(model), id(model)];
    const theirs = id(model);
    for (const key of mine) await adapter.upsert(key, { jti: key, grantId }, 60);
    await adapter.upsert(theirs, { jti: theirs, grantId: otherGrant }, 60);
    await adapter.revokeByGrantId(grantId);
    for (const key of mine) await expect(adapter.find(key)).resolves.toBeUndefined();
    await expect(adapter.find(theirs)).resolves.toEqual({ jti: theirs, grantId: otherGrant });
  });

  it('marks a consumed row as consumed', async () => {
    const adapter = Adapter(model);
    const key = id(model);
    await adapter.upsert(key, { jti: key }, 60);
    await adapter.consume(key);
    const found = await adapter.find(key);
    expect(found?.consumed).toEqual(expect.any(Number));
  });
});

describe('lookups by secondary key', () => {
  it('findByUid finds a session by its uid, and not once it expired', async () => {
    const adapter = Adapter('Session');
    const key = id('sess');
    const uid = id('uid');
    await adapter.upsert(key, { jti: key, uid, accountId: 'user-1' }, 60);
    // Only the hash of the session id is stored: found by uid, the session carries a reference to its row instead.
    const found = await adapter.findByUid(uid);
    expect(found).toEqual({ jti: expect.any(String), uid, accountId: 'user-1' });
    expect(found!.jti).not.toBe(key);
    await expect(adapter.find(found!.jti!)).resolves.toEqual({ jti: found!.jti, uid, accountId: 'user-1' });
    await expect(adapter.findByUid(id('uid'))).resolves.toBeUndefined();
    await expireRow('Session', key, new Date(0));
    await expect(adapter.findByUid(uid)).resolves.toBeUndefined();
  });

  it('findByUserCode finds a device code by its user code', async () => {
    const adapter = Adapter('DeviceCode');
    const key = id('dc');
    await adapter.upsert(key, { jti: key, userCode: 'ABCD-EFGH' }, 60);
    await expect(adapter.findByUserCode('ABCD-EFGH')).resolves.toEqual({ jti: expect.not.stringMatching(key), userCode: 'ABCD-EFGH' });
    await expect(Adapter('Session').findByUserCode('ABCD-EFGH')).resolves.toBeUndefined();
  });
});

describe('no bearer value at rest', () => {
  it.each(['AccessToken', 'RefreshToken', 'AuthorizationCode', 'Session', 'BackchannelAuthenticationRequest'])(
    'stores a %s under the hash of its id and without its jti, and gives the presented id back on find',
    async (model) => {
      const adapter = Adapter(model);
      const key = id(model);
      await adapter.upsert(key, { jti: key, accountId: 'user-1' }, 60);
      const row = await db.prisma.oidcPayload.findFirstOrThrow({ where: { model, id: hasher.hash(key) } });
      expect(JSON.stringify(row)).not.toContain(key);
      await expect(adapter.find(key)).resolves.toEqual({ jti: key, accountId: 'user-1' });
    },
  );

  it('a stored reference reaches the row by its hash; the hash itself presented as an id finds nothing', async () => {
    const adapter = Adapter('BackchannelAuthenticationRequest');
    const key = id('ciba');
    await adapter.upsert(key, { jti: key, accountId: 'user-1' }, 60);
    const reference = Adapter.storedReference(hasher.hash(key));
    await expect(adapter.find(reference)).resolves.toMatchObject({ accountId: 'user-1' });
    await expect(adapter.find(hasher.hash(key))).resolves.toBeUndefined();
  });
});

describe('consume under real concurrency', () => {
  it.each(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'])(
    'of 16 concurrent redemptions of one %s exactly one wins; the others get invalid_grant',
    async (model) => {
      const adapter = Adapter(model);
      const key = id(model);
      await adapter.upsert(key, { jti: key }, 60);
      const results = await Promise.allSettled(Array.from({ length: 16 }, () => Adapter(model).consume(key)));
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(15);
      for (const loss of lost) {
        expect(loss.reason).toBeInstanceOf(errors.InvalidGrant);
        expect((loss.reason as InstanceType<typeof errors.InvalidGrant>).error).toBe('invalid_grant');
      }
    },
  );

  it('consuming an unknown code is invalid_grant, never a server error', async () => {
    await expect(Adapter('AuthorizationCode').consume(id('missing'))).rejects.toBeInstanceOf(errors.InvalidGrant);
  });
});

describe('sweeping', () => {
  it('deletes rows expired longer than the grace period and keeps live ones', async () => {
    const adapter = Adapter('AccessToken');
    const live = id('live');
    const expired = id('expired');
    const justExpired = id('just');
    await adapter.upsert(live, { jti: live }, 60);
    await adapter.upsert(expired, { jti: expired }, 60);
    await adapter.upsert(justExpired, { jti: justExpired }, 60);
    await expireRow('AccessToken', expired, new Date(Date.now() - 120_000));
    await expireRow('AccessToken', justExpired, new Date(Date.now() - 10_000));

    const swept = await sweepExpiredPayloads(db.prisma, 60);

    expect(swept).toBeGreaterThanOrEqual(1);
    const remaining = await db.prisma.oidcPayload.findMany({
      where: { id: { in: [live, expired, justExpired].map(hasher.hash) } },
      select: { id: true },
    });
    expect(remaining.map((r) => r.id).sort()).toEqual([justExpired, live].map(hasher.hash).sort());
  });
});

describe('what the table holds', () => {
  it.each(['AccessToken', 'RefreshToken', 'AuthorizationCode', 'Session', 'ClientCredentials'])(
    'never stores a %s id (a bearer secret) in plaintext',
    async (model) => {
      const key = id(model);
      await Adapter(model).upsert(key, { jti: key }, 60);
      expect(await db.prisma.oidcPayload.count({ where: { id: key } })).toBe(0);
      expect(await db.prisma.oidcPayload.count({ where: { model, id: hasher.hash(key) } })).toBe(1);
      await expect(Adapter(model).find(key)).resolves.toEqual({ jti: key });
    },
  );

  it('reads clients from the client registry and refuses to write them', async () => {
    const clients = Adapter('Client');
    await expect(clients.find('app-1')).resolves.toEqual({ client_id: 'app-1', client_name: 'App One' });
    await expect(clients.find('unknown')).resolves.toBeUndefined();
    await expect(clients.upsert('x', { client_id: 'x' }, 60)).rejects.toThrow(/client registry/);
  });
});
