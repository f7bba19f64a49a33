// Contract tests of oidc-provider's storage on PostgreSQL, against a real database with real concurrency.
import { errors, type AdapterPayload } from 'oidc-provider';
import { connectDatabase, type Database } from '../../src/db/client.js';
import { createAdapterFactory, sweepExpiredPayloads, type AdapterFactory } from '../../src/oauth/adapter.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';

const MODELS = [
  'Grant', 'Session', 'AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials', 'Client',
  'InitialAccessToken', 'RegistrationAccessToken', 'DeviceCode', 'Interaction', 'ReplayDetection',
  'BackchannelAuthenticationRequest', 'PushedAuthorizationRequest',
] as const;

let database: TestDatabase;
let db: Database;
let Adapter: AdapterFactory;

beforeAll(async () => {
  database = await createTestDatabase();
  db = connectDatabase(database.url, createLogger('silent'), 20);
  Adapter = createAdapterFactory(db.prisma);
});

afterAll(async () => {
  await db.close();
  await database.drop();
});

let seq = 0;
const id = (label: string) => `${label}-${++seq}-${Math.random().toString(36).slice(2)}`;

describe.each(MODELS)('%s', (model) => {
  it('finds what it stored, with the stored payload, and forgets it on destroy', async () => {
    const adapter = new Adapter(model);
    const key = id(model);
    const payload: AdapterPayload = { jti: key, kind: model, grantId: id('grant'), scope: 'openid', exp: 1 };
    await adapter.upsert(key, payload, 60);
    await expect(adapter.find(key)).resolves.toEqual(payload);
    await adapter.destroy(key);
    await expect(adapter.find(key)).resolves.toBeUndefined();
  });

  it('replaces the payload on a second upsert of the same id', async () => {
    const adapter = new Adapter(model);
    const key = id(model);
    await adapter.upsert(key, { jti: key, scope: 'a' }, 60);
    await adapter.upsert(key, { jti: key, scope: 'b' }, 60);
    await expect(adapter.find(key)).resolves.toEqual({ jti: key, scope: 'b' });
  });

  it('never returns an expired row', async () => {
    const adapter = new Adapter(model);
    const key = id(model);
    await adapter.upsert(key, { jti: key }, 1);
    await expect(adapter.find(key)).resolves.toEqual({ jti: key });
    await db.prisma.oidcPayload.update({ where: { model_id: { model, id: key } }, data: { expiresAt: new Date(Date.now() - 1) } });
    await expect(adapter.find(key)).resolves.toBeUndefined();
  });

  it('keeps rows stored without an expiry', async () => {
    const adapter = new Adapter(model);
    const key = id(model);
    await adapter.upsert(key, { jti: key });
    await expect(adapter.find(key)).resolves.toEqual({ jti: key });
  });

  it('does not see rows of another model with the same id', async () => {
    const key = id(model);
    await new Adapter(model).upsert(key, { jti: key }, 60);
    const other = MODELS.find((m) => m !== model)!;
    await expect(new Adapter(other).find(key)).resolves.toBeUndefined();
  });

  it('revokeByGrantId removes every row of that grant and no other', async () => {
    const adapter = new Adapter(model);
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
    const adapter = new Adapter(model);
    const key = id(model);
    await adapter.upsert(key, { jti: key }, 60);
    await adapter.consume(key);
    const found = await adapter.find(key);
    expect(found?.consumed).toEqual(expect.any(Number));
  });
});

describe('lookups by secondary key', () => {
  it('findByUid finds a session by its uid, and not once it expired', async () => {
    const adapter = new Adapter('Session');
    const key = id('sess');
    const uid = id('uid');
    await adapter.upsert(key, { jti: key, uid, accountId: 'user-1' }, 60);
    await expect(adapter.findByUid(uid)).resolves.toEqual({ jti: key, uid, accountId: 'user-1' });
    await expect(adapter.findByUid(id('uid'))).resolves.toBeUndefined();
    await db.prisma.oidcPayload.update({ where: { model_id: { model: 'Session', id: key } }, data: { expiresAt: new Date(0) } });
    await expect(adapter.findByUid(uid)).resolves.toBeUndefined();
  });

  it('findByUserCode finds a device code by its user code', async () => {
    const adapter = new Adapter('DeviceCode');
    const key = id('dc');
    await adapter.upsert(key, { jti: key, userCode: 'ABCD-EFGH' }, 60);
    await expect(adapter.findByUserCode('ABCD-EFGH')).resolves.toEqual({ jti: key, userCode: 'ABCD-EFGH' });
    await expect(new Adapter('Session').findByUserCode('ABCD-EFGH')).resolves.toBeUndefined();
  });
});

describe('consume under real concurrency', () => {
  it.each(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'])(
    'of 16 concurrent redemptions of one %s exactly one wins; the others get invalid_grant',
    async (model) => {
      const adapter = new Adapter(model);
      const key = id(model);
      await adapter.upsert(key, { jti: key }, 60);
      const results = await Promise.allSettled(Array.from({ length: 16 }, () => new Adapter(model).consume(key)));
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
    await expect(new Adapter('AuthorizationCode').consume(id('missing'))).rejects.toBeInstanceOf(errors.InvalidGrant);
  });
});

describe('sweeping', () => {
  it('deletes rows expired longer than the grace period and keeps live ones', async () => {
    const adapter = new Adapter('AccessToken');
    const live = id('live');
    const expired = id('expired');
    const justExpired = id('just');
    await adapter.upsert(live, { jti: live }, 60);
    await adapter.upsert(expired, { jti: expired }, 60);
    await adapter.upsert(justExpired, { jti: justExpired }, 60);
    await db.prisma.oidcPayload.update({ where: { model_id: { model: 'AccessToken', id: expired } }, data: { expiresAt: new Date(Date.now() - 120_000) } });
    await db.prisma.oidcPayload.update({ where: { model_id: { model: 'AccessToken', id: justExpired } }, data: { expiresAt: new Date(Date.now() - 10_000) } });

    const swept = await sweepExpiredPayloads(db.prisma, 60);

    expect(swept).toBeGreaterThanOrEqual(1);
    const remaining = await db.prisma.oidcPayload.findMany({ where: { id: { in: [live, expired, justExpired] } }, select: { id: true } });
    expect(remaining.map((r) => r.id).sort()).toEqual([justExpired, live].sort());
  });
});
