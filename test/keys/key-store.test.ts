// The key store on a real PostgreSQL database: keys are sealed at rest, bound to their row, refused under a wrong
// KEK, created exactly once however many processes start together, and rotated next → current → retired → deleted.
import pg from 'pg';
import type { Database } from '../../src/db/client.js';
import {
  ensureKeys,
  KEYS_CHANNEL,
  listKeys,
  loadKeys,
  NoKeysError,
  readKeyVersion,
  rotateKeys,
  RotationTooSoonError,
  type RotationPolicy,
} from '../../src/keys/key-store.js';
import { parseKek } from '../../src/keys/kek.js';
import { open, UnsealError } from '../../src/keys/sealed-box.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';
import { newKek, openDatabase } from '../support/keys.js';

let database: TestDatabase;
let db: Database;
const kek = parseKek(newKek());
const policy: RotationPolicy = { signingRetention: 100, cookieRetention: 1000, minNextAge: 0 };

beforeEach(async () => {
  database = await createTestDatabase();
  db = openDatabase(database.url);
});
afterEach(async () => {
  await db.close();
  await database.drop();
});

type RawSigningRow = { kid: string; state: string; encrypted: Buffer; public_jwk: Record<string, unknown> };
type RawCookieRow = { id: string; state: string; encrypted: Buffer };

async function signingRows(): Promise<RawSigningRow[]> {
  return (await db.pool.query<RawSigningRow>('SELECT kid, state::text, encrypted, public_jwk FROM signing_keys ORDER BY kid')).rows;
}
async function cookieRows(): Promise<RawCookieRow[]> {
  return (await db.pool.query<RawCookieRow>('SELECT id, state::text, encrypted FROM cookie_keys ORDER BY id')).rows;
}
function statesOf(rows: Array<{ state: string }>): string[] {
  return rows.map((r) => r.state).sort();
}
const seconds = (date: Date, s: number) => new Date(date.getTime() + s * 1000);

it('creates one current and one next signing key and cookie key, and stores no private material in the clear', async () => {
  await ensureKeys(db.prisma, kek);
  const keys = await loadKeys(db.prisma, kek);

  const signing = await signingRows();
  const cookies = await cookieRows();
  expect(statesOf(signing)).toEqual(['current', 'next']);
  expect(statesOf(cookies)).toEqual(['current', 'next']);
  expect(keys.signing).toHaveLength(2);
  for (const jwk of keys.signing) {
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', d: expect.any(String) });
    const row = signing.find((r) => r.kid === jwk.kid)!;
    expect(row.public_jwk).not.toHaveProperty('d');
    // Whatever encoding one looks at the stored bytes with, the private scalar is not there.
    for (const encoding of ['utf8', 'latin1', 'base64', 'base64url', 'hex'] as const) {
      expect(row.encrypted.toString(encoding)).not.toContain(jwk.d);
    }
    expect(row.encrypted.toString('latin1')).not.toContain('"d"');
    expect(JSON.stringify(row.public_jwk)).not.toContain(jwk.d);
  }
  for (const secret of keys.cookie) {
    for (const row of cookies) expect(row.encrypted.toString('latin1')).not.toContain(secret);
  }
  expect(keys.publicJwks.keys.map((k) => k.kid).sort()).toEqual(signing.map((r) => r.kid));
  expect(JSON.stringify(keys.publicJwks)).not.toMatch(/"d"/);
});

it('signs only with the current key: next and retired keys are marked verify-only, current first', async () => {
  await ensureKeys(db.prisma, kek);
  const keys = await loadKeys(db.prisma, kek);
  const current = (await signingRows()).find((r) => r.state === 'current')!;

  expect(keys.currentKid).toBe(current.kid);
  expect(keys.signing[0]).toMatchObject({ kid: current.kid });
  expect(keys.signing[0]).not.toHaveProperty('key_ops');
  expect(keys.signing[1]).toMatchObject({ key_ops: ['verify'] });
  expect(keys.cookie).toHaveLength(2);
  expect(await readKeyVersion(db.prisma)).toBe(keys.version);
});

it('does not open a ciphertext moved to another key row (the kid is associated data)', async () => {
  await ensureKeys(db.prisma, kek);
  const [a, b] = await signingRows();
  expect(() => open(kek, b!.encrypted, a!.kid)).toThrow(UnsealError);

  await db.pool.query('UPDATE signing_keys SET encrypted = $1 WHERE kid = $2', [b!.encrypted, a!.kid]);
  await expect(loadKeys(db.prisma, kek)).rejects.toThrow(UnsealError);
  await expect(ensureKeys(db.prisma, kek)).rejects.toThrow(UnsealError);
});

it('refuses a wrong KEK: loading, ensuring and rotating throw and write nothing', async () => {
  await ensureKeys(db.prisma, kek);
  const wrong = parseKek(newKek());
  await expect(loadKeys(db.prisma, wrong)).rejects.toThrow(/wrong AGENTAUTH_KEK/);

  // With a key missing, a wrong KEK would otherwise add one nobody else can open.
  await db.pool.query("DELETE FROM signing_keys WHERE state = 'next'");
  const before = await listKeys(db.prisma);
  await expect(ensureKeys(db.prisma, wrong)).rejects.toThrow(UnsealError);
  expect(await listKeys(db.prisma)).toEqual(before);

  await ensureKeys(db.prisma, kek);
  const ready = await listKeys(db.prisma);
  await expect(rotateKeys(db.prisma, wrong, policy)).rejects.toThrow(UnsealError);
  expect(await listKeys(db.prisma)).toEqual(ready);
});

it('creates exactly one current and one next key when many processes start at once', async () => {
  const handles = Array.from({ length: 6 }, () => openDatabase(database.url));
  try {
    await Promise.all(handles.map((h) => ensureKeys(h.prisma, kek)));
    const versions = await Promise.all(handles.map(async (h) => (await loadKeys(h.prisma, kek)).version));
    expect(new Set(versions).size).toBe(1);
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
  expect(statesOf(await signingRows())).toEqual(['current', 'next']);
  expect(statesOf(await cookieRows())).toEqual(['current', 'next']);
});

it('rotates: next becomes current, current is retired but still published, a new next is published, cookies likewise', async () => {
  await ensureKeys(db.prisma, kek);
  const before = await loadKeys(db.prisma, kek);
  const formerNext = before.signing[1]!.kid!;

  const result = await rotateKeys(db.prisma, kek, policy);

  expect(result.current).toBe(formerNext);
  expect(result.retired).toBe(before.currentKid);
  expect([before.currentKid, formerNext]).not.toContain(result.next);
  const rows = await db.prisma.signingKey.findMany();
  const byKid = new Map(rows.map((r) => [r.kid, r]));
  expect(byKid.get(formerNext)).toMatchObject({ state: 'current', activatedAt: expect.any(Date) });
  expect(byKid.get(result.next)).toMatchObject({ state: 'next', activatedAt: null });
  const retired = byKid.get(before.currentKid)!;
  expect(retired.state).toBe('retired');
  expect(retired.retireAfter!.getTime() - retired.retiredAt!.getTime()).toBe(policy.signingRetention * 1000);

  const after = await loadKeys(db.prisma, kek);
  expect(after.currentKid).toBe(formerNext);
  expect(after.signing.map((k) => k.kid)).toEqual([formerNext, result.next, before.currentKid]);
  expect(after.signing.slice(1).every((k) => k.key_ops?.join() === 'verify')).toBe(true);
  expect(after.publicJwks.keys.map((k) => k.kid).sort()).toEqual([formerNext, result.next, before.currentKid].sort());
  expect(after.version).not.toBe(before.version);
  expect(await readKeyVersion(db.prisma)).toBe(after.version);

  // The next cookie key, known to every process already, now signs; the old one still verifies.
  expect(after.cookie[0]).toBe(before.cookie[1]);
  expect(after.cookie).toContain(before.cookie[0]);
  expect(after.cookie).toHaveLength(3);
  const cookieStates = await db.prisma.cookieKey.findMany({ where: { state: 'retired' } });
  expect(cookieStates).toHaveLength(1);
});

it('deletes retired keys once their retention has passed, on rotation and on start', async () => {
  const t = new Date();
  await ensureKeys(db.prisma, kek, t);
  const r1 = await rotateKeys(db.prisma, kek, policy, seconds(t, 10)); // retires K1 until t+110, C1 until t+1010
  const r2 = await rotateKeys(db.prisma, kek, policy, seconds(t, 20)); // retires K2 until t+120, C2 until t+1020

  const r3 = await rotateKeys(db.prisma, kek, policy, seconds(t, 115)); // retires K3 until t+215, C3 until t+1115
  expect(r3.pruned).toEqual({ signing: 1, cookie: 0 });
  const kids = (await db.prisma.signingKey.findMany()).map((k) => k.kid);
  expect(kids).not.toContain(r1.retired);
  expect(kids).toContain(r2.retired);

  await ensureKeys(db.prisma, kek, seconds(t, 1015));
  const left = await listKeys(db.prisma);
  expect(left.filter((k) => k.kind === 'signing').map((k) => k.state)).toEqual(['current', 'next']);
  expect(left.filter((k) => k.kind === 'cookie').map((k) => k.state)).toEqual(['current', 'next', 'retired', 'retired']);
  expect((await loadKeys(db.prisma, kek)).publicJwks.keys.map((k) => k.kid)).not.toContain(r2.retired);
});

it('refuses to rotate to a next key published for less than the minimum time, and changes nothing', async () => {
  const t = new Date();
  await ensureKeys(db.prisma, kek, t);
  const before = await listKeys(db.prisma);

  await expect(rotateKeys(db.prisma, kek, { ...policy, minNextAge: 300 }, seconds(t, 299))).rejects.toThrow(RotationTooSoonError);
  expect(await listKeys(db.prisma)).toEqual(before);

  await expect(rotateKeys(db.prisma, kek, { ...policy, minNextAge: 300 }, seconds(t, 300))).resolves.toMatchObject({ current: expect.any(String) });
});

it('refuses to rotate a database that has no keys yet', async () => {
  await expect(rotateKeys(db.prisma, kek, policy)).rejects.toThrow(NoKeysError);
  await expect(loadKeys(db.prisma, kek)).rejects.toThrow(NoKeysError);
});

it('announces a rotation on the keys channel when it commits, and not when it fails', async () => {
  await ensureKeys(db.prisma, kek);
  const listener = new pg.Client({ connectionString: database.url });
  await listener.connect();
  try {
    const received: string[] = [];
    listener.on('notification', (message) => received.push(message.channel));
    await listener.query(`LISTEN ${KEYS_CHANNEL}`);

    await expect(rotateKeys(db.prisma, kek, { ...policy, minNextAge: 3600 })).rejects.toThrow(RotationTooSoonError);
    await listener.query('SELECT 1'); // notifications sent before this answer have arrived by now
    expect(received).toEqual([]);

    await rotateKeys(db.prisma, kek, policy);
    await listener.query('SELECT 1');
    expect(received).toEqual([KEYS_CHANNEL]);
  } finally {
    await listener.end();
  }
});
