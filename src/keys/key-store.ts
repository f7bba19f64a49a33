// Signing and cookie keys: generated on first start, encrypted at rest, rotated without a gap.
//
// A signing key lives three lives: `next` (published at jwks_uri, never signs, so verifiers have it cached
// before it is used), `current` (signs), `retired` (published for verification until every token it signed has
// expired, then deleted). Rotation promotes next → current, current → retired and creates a new next, in one
// transaction under an advisory lock so concurrent starts and rotations cannot interleave.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type { JWK } from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { open, seal } from './sealed-box.js';

const KEYS_LOCK = 0x61676b31; // "agk1": serialises key creation and rotation across processes
const SIGNING_ALG = 'ES256';

export type KeySet = {
  /** Private JWKs for oidc-provider: the current key first; next and retired keys verify only. */
  signing: JWK[];
  /** Public JWKS as published (kid, alg, use). */
  publicJwks: { keys: JWK[] };
  /** Cookie signing keys, current first. */
  cookie: string[];
  /** Changes whenever any key changes; processes compare it to decide whether to reload. */
  version: string;
};

export type RotationPolicy = {
  /** How long a retired signing key stays published: at least the longest token lifetime. */
  signingRetention: number;
  /** How long a retired cookie key still verifies: at least the longest session. */
  cookieRetention: number;
};

type Tx = Prisma.TransactionClient;

/** Creates whatever is missing (a current and a next signing key, a current cookie key). Idempotent. */
export async function ensureKeys(prisma: PrismaClient, kek: Buffer): Promise<void> {
  await prisma.$transaction(async (tx) => {
    await lock(tx);
    const states = new Set((await tx.signingKey.findMany({ select: { state: true } })).map((k) => k.state));
    if (!states.has('current')) await createSigningKey(tx, kek, 'current');
    if (!states.has('next')) await createSigningKey(tx, kek, 'next');
    if ((await tx.cookieKey.count({ where: { state: 'current' } })) === 0) await createCookieKey(tx, kek);
  });
}

/** Rotates signing and cookie keys and deletes retired keys whose retention ended. Returns the new current kid. */
export async function rotateKeys(prisma: PrismaClient, kek: Buffer, policy: RotationPolicy, now = new Date()): Promise<string> {
  return prisma.$transaction(async (tx) => {
    await lock(tx);
    const next = await tx.signingKey.findFirst({ where: { state: 'next' } });
    if (!next) throw new Error('no next signing key: start the server once before rotating');
    await tx.signingKey.updateMany({
      where: { state: 'current' },
      data: { state: 'retired', retiredAt: now, retireAfter: new Date(now.getTime() + policy.signingRetention * 1000) },
    });
    await tx.signingKey.update({ where: { kid: next.kid }, data: { state: 'current', activatedAt: now } });
    await createSigningKey(tx, kek, 'next');

    await tx.cookieKey.updateMany({
      where: { state: 'current' },
      data: { state: 'retired', retireAfter: new Date(now.getTime() + policy.cookieRetention * 1000) },
    });
    await createCookieKey(tx, kek);

    await tx.signingKey.deleteMany({ where: { state: 'retired', retireAfter: { lt: now } } });
    await tx.cookieKey.deleteMany({ where: { state: 'retired', retireAfter: { lt: now } } });
    return next.kid;
  });
}

/** Reads and decrypts every key. Throws if the KEK cannot open them: the server must not start with wrong keys. */
export async function loadKeys(prisma: PrismaClient, kek: Buffer): Promise<KeySet> {
  const [signingRows, cookieRows] = await Promise.all([
    prisma.signingKey.findMany({ orderBy: { createdAt: 'desc' } }),
    prisma.cookieKey.findMany({ orderBy: { createdAt: 'desc' } }),
  ]);
  const order = { current: 0, next: 1, retired: 2 } as const;
  signingRows.sort((a, b) => order[a.state] - order[b.state]);
  cookieRows.sort((a, b) => order[a.state] - order[b.state]);

  const signing = signingRows.map((row): JWK => {
    const jwk = JSON.parse(open(kek, row.encrypted, row.kid).toString('utf8')) as JWK;
    return row.state === 'current' ? jwk : { ...jwk, key_ops: ['verify'] };
  });
  const cookie = cookieRows.map((row) => open(kek, row.encrypted, row.id).toString('utf8'));
  const version = [...signingRows.map((r) => `${r.kid}:${r.state}`), ...cookieRows.map((r) => `${r.id}:${r.state}`)].join(',');
  return {
    signing,
    publicJwks: { keys: signingRows.map((row) => row.publicJwk as JWK) },
    cookie,
    version,
  };
}

async function lock(tx: Tx): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${KEYS_LOCK})`;
}

async function createSigningKey(tx: Tx, kek: Buffer, state: 'current' | 'next'): Promise<void> {
  const kid = randomUUID();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: SIGNING_ALG, use: 'sig' };
  const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: SIGNING_ALG, use: 'sig' };
  await tx.signingKey.create({
    data: {
      kid,
      alg: SIGNING_ALG,
      publicJwk,
      encrypted: seal(kek, Buffer.from(JSON.stringify(privateJwk)), kid),
      state,
      activatedAt: state === 'current' ? new Date() : null,
    },
  });
}

async function createCookieKey(tx: Tx, kek: Buffer): Promise<void> {
  const id = randomUUID();
  await tx.cookieKey.create({
    data: { id, encrypted: seal(kek, Buffer.from(randomBytes(32).toString('base64url')), id), state: 'current' },
  });
}
