// Humans: the people agents act for. Stored apart from agents; passwords as argon2id hashes.
import type { Account } from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import { hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, verifyAgainstDummy, verifyPassword } from './passwords.js';

export type User = { id: string; username: string; displayName: string | null; status: 'active' | 'disabled'; createdAt: Date };

export class UserInputError extends Error {
  override name = 'UserInputError';
}

const USERNAME = /^[a-z0-9][a-z0-9._@-]{0,127}$/;

/** Usernames compare case-insensitively: they are stored lowercased. */
export function normalizeUsername(username: string): string {
  return username.trim().toLowerCase();
}

const select = { id: true, username: true, displayName: true, status: true, createdAt: true } as const;

export function createUserStore(prisma: PrismaClient) {
  return {
    async create(input: { username: string; password: string; displayName?: string }): Promise<User> {
      const username = normalizeUsername(input.username);
      if (!USERNAME.test(username)) throw new UserInputError('username: 1-128 characters of a-z, 0-9, ".", "_", "@", "-", starting with a letter or digit');
      if (input.password.length < MIN_PASSWORD_LENGTH || input.password.length > MAX_PASSWORD_LENGTH) {
        throw new UserInputError(`password: ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`);
      }
      try {
        return await prisma.user.create({
          data: { username, passwordHash: await hashPassword(input.password), displayName: input.displayName ?? null },
          select,
        });
      } catch (error) {
        if ((error as { code?: string }).code === 'P2002') throw new UserInputError(`username: ${username} is taken`);
        throw error;
      }
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
      const row = await prisma.user.findUnique({ where: { username: normalizeUsername(username) } });
      if (!row || row.status !== 'active') return verifyAgainstDummy(password).then(() => undefined);
      if (!(await verifyPassword(row.passwordHash, password))) return undefined;
      const { passwordHash: _hash, updatedAt: _updated, ...user } = row;
      return user;
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
