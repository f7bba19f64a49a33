// Admin API keys: generated bearer secrets (`aa_ak_...`, 256 bits) with a role, stored only as their keyed hash.
// A presented key is found by its hash through the unique index: the database compares HMAC outputs the presenter
// cannot steer, so lookup time says nothing about how close a guess was (constant-time by construction, no
// comparison of secret bytes anywhere). Keys are revoked, never deleted: "has an admin key ever existed" (the
// bootstrap rule) must stay answerable.
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { NotFoundError } from '../errors.js';
import { generateSecret, type SecretHasher } from '../secrets/secret-hasher.js';

export const ADMIN_KEY_PREFIX = 'aa_ak';
export type AdminRole = 'admin' | 'auditor';

export type AdminKey = {
  id: string;
  name: string;
  role: AdminRole;
  createdBy: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
};

/** last_used_at is informational: writing it on every request would turn each read into a write. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** Longer than any key this server generates or accepts from the environment; anything longer is not a key. */
const MAX_PRESENTED_LENGTH = 512;

type Writer = PrismaClient | Prisma.TransactionClient;

const select = { id: true, name: true, role: true, createdBy: true, createdAt: true, lastUsedAt: true, revokedAt: true } as const;

export function createAdminKeyStore(prisma: PrismaClient, secrets: SecretHasher) {
  return {
    /**
     * Stores a key and answers it with its secret, which exists nowhere else afterwards. `secret` is given only for
     * the bootstrap key from AGENTAUTH_BOOTSTRAP_ADMIN_KEY; otherwise one is generated.
     */
    async create(input: { name: string; role: AdminRole; createdBy?: string | null; secret?: string }, tx: Writer = prisma) {
      const key = input.secret ?? generateSecret(ADMIN_KEY_PREFIX);
      const adminKey: AdminKey = await tx.adminKey.create({
        data: { name: input.name, role: input.role, keyHash: secrets.hash(key), createdBy: input.createdBy ?? null },
        select,
      });
      return { adminKey, key };
    },

    async get(id: string): Promise<AdminKey> {
      const row = await prisma.adminKey.findUnique({ where: { id }, select });
      if (!row) throw new NotFoundError(`no admin key ${id}`);
      return row;
    },

    /** Oldest first; `cursor` is the id of the last key of the previous page. */
    async list(options: { limit: number; cursor?: string | undefined }) {
      const rows = await prisma.adminKey.findMany({
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: options.limit + 1,
        ...(options.cursor ? { cursor: { id: options.cursor }, skip: 1 } : {}),
        select,
      });
      const items = rows.slice(0, options.limit);
      return { items, nextCursor: rows.length > options.limit ? items.at(-1)!.id : null };
    },

    /** Revokes a key; `changed` is false when it was already revoked (the call is idempotent). */
    async revoke(id: string, tx: Writer = prisma, now = new Date()): Promise<{ adminKey: AdminKey; changed: boolean }> {
      const { count } = await tx.adminKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: now } });
      const adminKey = await tx.adminKey.findUnique({ where: { id }, select });
      if (!adminKey) throw new NotFoundError(`no admin key ${id}`);
      return { adminKey, changed: count > 0 };
    },

    /**
     * The live key a presented secret belongs to, or undefined (unknown, malformed or revoked). Marks it used, at
     * most once per LAST_USED_RESOLUTION_MS: the conditional update also keeps several processes from all writing.
     */
    async authenticate(presented: string, now = new Date()): Promise<AdminKey | undefined> {
      if (presented.length === 0 || presented.length > MAX_PRESENTED_LENGTH) return undefined;
      const row = await prisma.adminKey.findUnique({ where: { keyHash: secrets.hash(presented) }, select });
      if (!row || row.revokedAt) return undefined;
      const stale = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
      if (!row.lastUsedAt || row.lastUsedAt <= stale) {
        await prisma.adminKey.updateMany({
          where: { id: row.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lte: stale } }] },
          data: { lastUsedAt: now },
        });
        return { ...row, lastUsedAt: now };
      }
      return row;
    },
  };
}

export type AdminKeyStore = ReturnType<typeof createAdminKeyStore>;
