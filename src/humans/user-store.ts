// Humans: the people agents act for. Stored apart from agents; passwords as argon2id hashes.
import { createHash } from 'node:crypto';
import type { Account } from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, verifyAgainstDummy, verifyPassword } from './passwords.js';

export type User = { id: string; username: string; displayName: string | null; status: 'active' | 'disabled'; createdAt: Date };

export class UserInputError extends Error {
  override name = 'UserInputError';
  /** The field at fault, for callers that report per field (the admin API). */
  constructor(
    message: string,
    readonly field?: 'username' | 'password',
  ) {
    super(message);
  }
}

/** The username belongs to another account (a conflict, not a malformed value). */
export class UsernameTakenError extends UserInputError {
  override name = 'UsernameTakenError';
}

export type UserChanges = { displayName?: string | null | undefined; password?: string | undefined; status?: User['status'] | undefined };

type Writer = PrismaClient | Prisma.TransactionClient;

const USERNAME = /^[a-z0-9][a-z0-9._@-]{0,127}$/;

/** Usernames compare case-insensitively: they are stored lowercased. */
export function normalizeUsername(username: string): string {
  return username.trim().toLowerCase();
}

const select = { id: true, username: true, displayName: true, status: true, createdAt: true } as const;

export function createUserStore(prisma: PrismaClient) {
  return {
    /** `tx` lets callers commit the new user together with their own writes (its audit event). */
    async create(input: { username: string; password: string; displayName?: string | undefined }, tx: Writer = prisma): Promise<User> {
      const username = normalizeUsername(input.username);
      if (!USERNAME.test(username)) {
        throw new UserInputError('username: 1-128 characters of a-z, 0-9, ".", "_", "@", "-", starting with a letter or digit', 'username');
      }
      checkPassword(input.password);
      try {
        return await tx.user.create({
          data: { username, passwordHash: await hashPassword(input.password), displayName: input.displayName ?? null },
          select,
        });
      } catch (error) {
        if ((error as { code?: string }).code === 'P2002') throw new UsernameTakenError(`username: ${username} is taken`, 'username');
        throw error;
      }
    },

    /** A page of users by username; `cursor` is the id of the last user of the previous page. */
    async list(options: { limit: number; cursor?: string | undefined; status?: User['status'] | undefined }) {
      const rows = await prisma.user.findMany({
        where: options.status ? { status: options.status } : {},
        orderBy: [{ username: 'asc' }, { id: 'asc' }],
        take: options.limit + 1,
        ...(options.cursor ? { cursor: { id: options.cursor }, skip: 1 } : {}),
        select,
      });
      const items = rows.slice(0, options.limit);
      return { items, nextCursor: rows.length > options.limit ? items.at(-1)!.id : null };
    },

    /**
     * Changes a user; answers the user before and after. Disabling here only flips the status: the caller revokes
     * the human's approvals and tokens through the revocation service.
     */
    async update(id: string, changes: UserChanges, tx: Writer = prisma): Promise<{ before: User; after: User }> {
      const before = await this.findById(id);
      if (!before) throw new NotFoundError(`no user ${id}`);
      if (changes.password !== undefined) checkPassword(changes.password);
      const after = await tx.user.update({
        where: { id },
        data: {
          ...(changes.displayName !== undefined ? { displayName: changes.displayName } : {}),
          ...(changes.status !== undefined ? { status: changes.status } : {}),
          ...(changes.password !== undefined ? { passwordHash: await hashPassword(changes.password) } : {}),
        },
        select,
      });
      // A new password ends every sign-in made with the old one: the provider's sessions go now, and the /approvals
      // sign-in cookie is bound to the password (sessionStamp) and stops verifying.
      if (changes.password !== undefined) {
        await tx.oidcPayload.deleteMany({ where: { model: 'Session', payload: { path: ['accountId'], equals: id } } });
      }
      return { before, after };
    },

    /**
     * A value that changes whenever the human's password does (a digest of its salted hash, never the hash): signed
     * into sign-in cookies so that a password change signs the human out everywhere.
     */
    async sessionStamp(id: string): Promise<string | undefined> {
      if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
      const row = await prisma.user.findUnique({ where: { id }, select: { passwordHash: true, status: true } });
      if (!row || row.status !== 'active') return undefined;
      return createHash('sha256').update(row.passwordHash).digest('base64url');
    },

    /** Deletes a user who owns no agents (their approvals go with them); ConflictError while agents remain. */
    async delete(id: string, tx: Writer = prisma): Promise<void> {
      const owned = await tx.agent.count({ where: { ownerUserId: id } });
      if (owned > 0) throw new ConflictError(`the user owns ${owned} agent(s): delete or reassign them first`);
      try {
        await tx.user.delete({ where: { id } });
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'P2025') throw new NotFoundError(`no user ${id}`);
        // An agent created for this user meanwhile: the foreign key refuses the delete.
        if (code === 'P2003' || code === 'P2014') throw new ConflictError('the user owns agents: delete or reassign them first');
        throw error;
      }
    },

    /** An active human named by a CIBA login_hint: their username, or their user id. */
    async findActiveIdByHint(hint: string): Promise<string | undefined> {
      const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(hint);
      const user = await prisma.user.findFirst({
        where: uuid ? { id: hint, status: 'active' } : { username: hint.trim().toLowerCase(), status: 'active' },
        select: { id: true },
      });
      return user?.id;
    },

    async findById(id: string): Promise<User | undefined> {
      if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
      return (await prisma.user.findUnique({ where: { id }, select })) ?? undefined;
    },

    /**
     * The active user these credentials belong to, or undefined. Takes the same time whether or not the username
     * exists.
     */
    async authenticate(username: string, password: string): Promise<User | undefined> {
      return (await this.checkCredentials(username, password)).user;
    },

    /**
     * Like `authenticate`, and on failure also the id of the user the username names, if any (for the audit log:
     * found with the same query, so it costs no time that would tell whether the user exists).
     */
    async checkCredentials(username: string, password: string): Promise<{ user: User } | { user: undefined; userId: string | undefined }> {
      const row = await prisma.user.findUnique({ where: { username: normalizeUsername(username) } });
      if (!row || row.status !== 'active') return verifyAgainstDummy(password).then(() => ({ user: undefined, userId: row?.id }));
      if (!(await verifyPassword(row.passwordHash, password))) return { user: undefined, userId: row.id };
      const { passwordHash: _hash, updatedAt: _updated, ...user } = row;
      return { user };
    },

    /** oidc-provider's view of an active human: `sub` and the profile claims. */
    async findAccount(id: string): Promise<Account | undefined> {
      const user = await this.findById(id);
      if (!user || user.status !== 'active') return undefined;
      return {
        accountId: user.id,
        claims: async () => ({ sub: user.id, preferred_username: user.username, ...(user.displayName ? { name: user.displayName } : {}) }),
      };
    },
  };
}

export type UserStore = ReturnType<typeof createUserStore>;

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new UserInputError(`password: ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`, 'password');
  }
}
