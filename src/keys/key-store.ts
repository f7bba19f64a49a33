// Signing and cookie keys: generated on first start, encrypted at rest, rotated without a gap.
//
// A key lives three lives: `next` (known to every process and, for signing keys, published at jwks_uri, but never
// used to sign, so verifiers have it before it is used), `current` (signs), `retired` (still verifies until every
// token or cookie it signed has expired, then deleted). Rotation promotes next → current, current → retired and
// creates a new next, in one transaction under an advisory lock, so concurrent starts and rotations cannot interleave.
// Each change also sends NOTIFY on KEYS_CHANNEL (delivered at commit) so running servers reload at once
// (src/keys/key-watcher.ts).
//
// Private material is sealed with AES-256-GCM under the KEK, the row's id as associated data. Every write first
// proves the KEK opens the keys already stored: a process with a wrong KEK must fail, not add keys nobody else
// can read.
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type { JWK } from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import type { KeyState, Prisma } from '../../generated/prisma/client.js';
import { open, seal } from './sealed-box.js';

const KEYS_LOCK = 0x61676b31; // "agk1": serialises key creation and rotation across processes
// Waiting for the lock counts against Prisma's interactive-transaction timeout (5 s by default): many replicas starting
// at once, or a slow database, must queue rather than fail.
const LOCKED_TX = { maxWait: 10_000, timeout: 30_000 };
const SIGNING_ALG = 'ES256';

/** The PostgreSQL NOTIFY channel on which every key change is announced. */
export const KEYS_CHANNEL = 'agentauth_keys';

export type KeySet = {
  /** Private JWKs for oidc-provider: the current key first; next and retired keys carry key_ops ["verify"]. */
  signing: JWK[];
  /** Public JWKS as published (kid, alg, use): current, next and retired keys. */
  publicJwks: { keys: JWK[] };
  /** Cookie signing keys: the current first (it signs), then next and retired (they verify). */
  cookie: string[];
  /** The kid that signs. */
  currentKid: string;
  /** Changes whenever any key is added, changes state or is deleted; processes compare it to decide to reload. */
  version: string;
};

export type RotationPolicy = {
  /** Seconds a retired signing key stays published: at least the longest token lifetime. */
  signingRetention: number;
  /** Seconds a retired cookie key still verifies: at least the longest session. */
  cookieRetention: number;
  /** Seconds the next signing key must have been published before it may sign (0 = no check). */
  minNextAge: number;
};

export type RotationResult = {
  /** The former next key, now signing. */
  current: string;
  /** The newly created next key, published from now on. */
  next: string;
  /** The former current key, now retired. */
  retired: string | undefined;
  signingRetireAfter: Date;
  cookieRetireAfter: Date;
  /** Retired keys deleted because their retention ended. */
  pruned: { signing: number; cookie: number };
};

export type KeyInfo = {
  kind: 'signing' | 'cookie';
  /** The kid of a signing key, the id of a cookie key. */
  id: string;
  alg: string | null;
  state: KeyState;
  createdAt: Date;
  activatedAt: Date | null;
  retiredAt: Date | null;
  retireAfter: Date | null;
};

export class NoKeysError extends Error {
  override name = 'NoKeysError';
}

/** The next key has not been published long enough for resource servers' JWKS caches to have picked it up. */
export class RotationTooSoonError extends Error {
  override name = 'RotationTooSoonError';
  constructor(
    readonly nextAge: number,
    readonly minNextAge: number,
  ) {
    super(
      `the next signing key was published ${nextAge} s ago, but resource servers may cache the JWKS for ${minNextAge} s: ` +
        `rotate again in ${minNextAge - nextAge} s`,
    );
  }
}

type Tx = Prisma.TransactionClient;

/**
 * Creates whatever is missing (current and next signing and cookie keys) and deletes retired keys whose retention
 * ended. Idempotent and safe to run from many processes at once. Throws if the KEK cannot open the stored keys.
 */
export async function ensureKeys(prisma: PrismaClient, kek: Buffer, now?: Date): Promise<void> {
  await prisma.$transaction(async (tx) => {
    await lock(tx);
    await proveKek(tx, kek);
    const at = now ?? (await databaseNow(tx));
    const pruned = await prune(tx, at);
    let changed = pruned.signing + pruned.cookie > 0;
    const signing = new Set((await tx.signingKey.findMany({ select: { state: true } })).map((k) => k.state));
    const cookie = new Set((await tx.cookieKey.findMany({ select: { state: true } })).map((k) => k.state));
    for (const state of ['current', 'next'] as const) {
      if (!signing.has(state)) {
        await createSigningKey(tx, kek, state, at);
        changed = true;
      }
      if (!cookie.has(state)) {
        await createCookieKey(tx, kek, state, at);
        changed = true;
      }
    }
    if (changed) await notify(tx);
  }, LOCKED_TX);
}

/**
 * Rotates signing and cookie keys and deletes retired keys whose retention ended; running servers are notified at
 * commit. `now` defaults to the database clock, so hosts with skewed clocks agree on retention.
 */
/** `record` runs in the rotation's transaction (the CLI writes its audit event there), so both commit or neither. */
export async function rotateKeys(
  prisma: PrismaClient,
  kek: Buffer,
  policy: RotationPolicy,
  now?: Date,
  record?: (tx: Prisma.TransactionClient, result: RotationResult) => Promise<void>,
): Promise<RotationResult> {
  return prisma.$transaction(async (tx) => {
    await lock(tx);
    await proveKek(tx, kek);
    const at = now ?? (await databaseNow(tx));
    const next = await tx.signingKey.findFirst({ where: { state: 'next' } });
    const nextCookie = await tx.cookieKey.findFirst({ where: { state: 'next' } });
    if (!next || !nextCookie) throw new NoKeysError('no next key to rotate to: start the server once before rotating');
    const nextAge = Math.floor((at.getTime() - next.createdAt.getTime()) / 1000);
    if (nextAge < policy.minNextAge) throw new RotationTooSoonError(Math.max(nextAge, 0), policy.minNextAge);

    const signingRetireAfter = new Date(at.getTime() + policy.signingRetention * 1000);
    const cookieRetireAfter = new Date(at.getTime() + policy.cookieRetention * 1000);
    const retired = await tx.signingKey.findFirst({ where: { state: 'current' }, select: { kid: true } });
    await tx.signingKey.updateMany({ where: { state: 'current' }, data: { state: 'retired', retiredAt: at, retireAfter: signingRetireAfter } });
    await tx.signingKey.update({ where: { kid: next.kid }, data: { state: 'current', activatedAt: at } });
    const created = await createSigningKey(tx, kek, 'next', at);

    await tx.cookieKey.updateMany({ where: { state: 'current' }, data: { state: 'retired', retireAfter: cookieRetireAfter } });
    await tx.cookieKey.update({ where: { id: nextCookie.id }, data: { state: 'current', activatedAt: at } });
    await createCookieKey(tx, kek, 'next', at);

    const pruned = await prune(tx, at);
    await notify(tx);
    const result = { current: next.kid, next: created, retired: retired?.kid, signingRetireAfter, cookieRetireAfter, pruned };
    await record?.(tx, result);
    return result;
  }, LOCKED_TX);
}

/** Reads and decrypts every key. Throws if the KEK cannot open them: the server must not start with wrong keys. */
export async function loadKeys(prisma: PrismaClient, kek: Buffer): Promise<KeySet> {
  // One snapshot for both tables, so a rotation committing in between cannot mix old signing and new cookie keys.
  const [signingRows, cookieRows] = await prisma.$transaction(
    [prisma.signingKey.findMany({ orderBy: { createdAt: 'desc' } }), prisma.cookieKey.findMany({ orderBy: { createdAt: 'desc' } })],
    { isolationLevel: 'RepeatableRead' },
  );
  signingRows.sort((a, b) => ORDER[a.state] - ORDER[b.state]);
  cookieRows.sort((a, b) => ORDER[a.state] - ORDER[b.state]);
  const current = signingRows[0];
  if (current?.state !== 'current' || cookieRows[0]?.state !== 'current') throw new NoKeysError('no current signing or cookie key');

  const signing = signingRows.map((row): JWK => {
    const jwk = JSON.parse(open(kek, row.encrypted, row.kid).toString('utf8')) as JWK;
    // oidc-provider signs only with keys whose key_ops allow it (or that have none).
    return row.state === 'current' ? jwk : { ...jwk, key_ops: ['verify'] };
  });
  const cookie = cookieRows.map((row) => open(kek, row.encrypted, row.id).toString('utf8'));
  return {
    signing,
    publicJwks: { keys: signingRows.map((row) => row.publicJwk as JWK) },
    cookie,
    currentKid: current.kid,
    version: versionOf(signingRows.map((r) => ['s', r.kid, r.state]).concat(cookieRows.map((r) => ['c', r.id, r.state]))),
  };
}

/** The version loadKeys would report, from ids and states only (no decryption): cheap enough to poll. */
export async function readKeyVersion(prisma: PrismaClient): Promise<string> {
  // One statement, one snapshot of both tables.
  const rows = await prisma.$queryRaw<Array<{ kind: string; id: string; state: string }>>`
    SELECT 's' AS kind, kid AS id, state::text AS state FROM signing_keys
    UNION ALL
    SELECT 'c' AS kind, id, state::text AS state FROM cookie_keys`;
  return versionOf(rows.map((r) => [r.kind, r.id, r.state]));
}

/** Every key's metadata, newest first; never key material. */
export async function listKeys(prisma: PrismaClient): Promise<KeyInfo[]> {
  const [signing, cookie] = await Promise.all([
    prisma.signingKey.findMany({ omit: { encrypted: true, publicJwk: true }, orderBy: { createdAt: 'desc' } }),
    prisma.cookieKey.findMany({ omit: { encrypted: true }, orderBy: { createdAt: 'desc' } }),
  ]);
  const byState = (a: KeyInfo, b: KeyInfo) => ORDER[a.state] - ORDER[b.state];
  return [
    ...signing
      .map((k): KeyInfo => ({ kind: 'signing', id: k.kid, alg: k.alg, state: k.state, createdAt: k.createdAt, activatedAt: k.activatedAt, retiredAt: k.retiredAt, retireAfter: k.retireAfter }))
      .sort(byState),
    ...cookie
      .map((k): KeyInfo => ({ kind: 'cookie', id: k.id, alg: null, state: k.state, createdAt: k.createdAt, activatedAt: k.activatedAt, retiredAt: null, retireAfter: k.retireAfter }))
      .sort(byState),
  ];
}

const ORDER: Record<KeyState, number> = { current: 0, next: 1, retired: 2 };

function versionOf(entries: string[][]): string {
  const canonical = entries.map((e) => e.join(':')).sort().join(',');
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}

async function lock(tx: Tx): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${KEYS_LOCK})`;
}

async function databaseNow(tx: Tx): Promise<Date> {
  const [row] = await tx.$queryRaw<Array<{ now: Date }>>`SELECT now() AS now`;
  return row!.now;
}

/** Throws UnsealError unless the KEK opens every stored key. */
async function proveKek(tx: Tx, kek: Buffer): Promise<void> {
  for (const row of await tx.signingKey.findMany({ select: { kid: true, encrypted: true } })) open(kek, row.encrypted, row.kid);
  for (const row of await tx.cookieKey.findMany({ select: { id: true, encrypted: true } })) open(kek, row.encrypted, row.id);
}

async function prune(tx: Tx, now: Date): Promise<{ signing: number; cookie: number }> {
  const signing = await tx.signingKey.deleteMany({ where: { state: 'retired', retireAfter: { lt: now } } });
  const cookie = await tx.cookieKey.deleteMany({ where: { state: 'retired', retireAfter: { lt: now } } });
  return { signing: signing.count, cookie: cookie.count };
}

/** Delivered to listeners when the transaction commits, not before; dropped if it rolls back. */
async function notify(tx: Tx): Promise<void> {
  await tx.$executeRaw`SELECT pg_notify(${KEYS_CHANNEL}, 'changed')`;
}

async function createSigningKey(tx: Tx, kek: Buffer, state: 'current' | 'next', now: Date): Promise<string> {
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
      createdAt: now,
      activatedAt: state === 'current' ? now : null,
    },
  });
  return kid;
}

async function createCookieKey(tx: Tx, kek: Buffer, state: 'current' | 'next', now: Date): Promise<void> {
  const id = randomUUID();
  await tx.cookieKey.create({
    data: { id, encrypted: seal(kek, Buffer.from(randomBytes(32).toString('base64url')), id), state, createdAt: now, activatedAt: state === 'current' ? now : null },
  });
}
