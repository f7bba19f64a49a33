// Records of issued tokens as the admin API lists them (never the tokens themselves), newest first. An agent's
// tokens are those it holds as the client and those naming it anywhere in their actor chain (it delegated onward).
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';

export type IssuedTokenRecord = Prisma.IssuedTokenGetPayload<object>;

export type IssuedTokenFilter = {
  agentId?: string | undefined;
  userId?: string | undefined;
  /** true: neither revoked nor expired; false: revoked or expired. */
  active?: boolean | undefined;
};

export function createIssuedTokenQuery(prisma: PrismaClient) {
  return {
    async get(jti: string): Promise<IssuedTokenRecord | undefined> {
      return (await prisma.issuedToken.findUnique({ where: { jti } })) ?? undefined;
    },

    /** `cursor` is the jti of the last record of the previous page. */
    async list(filter: IssuedTokenFilter & { limit: number; cursor?: string | undefined }, now = new Date()) {
      const conditions: Prisma.IssuedTokenWhereInput[] = [];
      if (filter.agentId !== undefined) {
        // PostgreSQL `actor_chain @> '[{"sub": "<id>"}]'`.
        conditions.push({ OR: [{ clientId: filter.agentId }, { actorChain: { array_contains: [{ sub: filter.agentId }] } }] });
      }
      if (filter.userId !== undefined) conditions.push({ subject: filter.userId, subjectKind: 'human' });
      if (filter.active === true) conditions.push({ revokedAt: null, expiresAt: { gt: now } });
      if (filter.active === false) conditions.push({ OR: [{ revokedAt: { not: null } }, { expiresAt: { lte: now } }] });
      const rows = await prisma.issuedToken.findMany({
        where: { AND: conditions },
        orderBy: [{ issuedAt: 'desc' }, { jti: 'desc' }],
        take: filter.limit + 1,
        ...(filter.cursor ? { cursor: { jti: filter.cursor }, skip: 1 } : {}),
      });
      const items = rows.slice(0, filter.limit);
      return { items, nextCursor: rows.length > filter.limit ? items.at(-1)!.jti : null };
    },
  };
}

export type IssuedTokenQuery = ReturnType<typeof createIssuedTokenQuery>;
