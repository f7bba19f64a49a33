// Humans' accounts at trusted outside issuers (identity providers that send ID-JAGs): an (issuer, subject) pair names
// exactly one human here. A human is found through such a link only, never by e-mail or username.
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { ConflictError } from '../errors.js';
import type { IdentityLink } from '../federation/trusted-issuer-store.js';

type Writer = PrismaClient | Prisma.TransactionClient;

export function createExternalIdentityStore(prisma: PrismaClient) {
  return {
    /** Each user's links, by user id (users without any are absent); `tx` reads inside a caller's transaction. */
    async forUsers(userIds: string[], tx: Writer = prisma): Promise<Map<string, IdentityLink[]>> {
      const rows = await tx.externalIdentity.findMany({
        where: { userId: { in: userIds } },
        orderBy: [{ issuer: 'asc' }, { subject: 'asc' }],
        select: { userId: true, issuer: true, subject: true },
      });
      const links = new Map<string, IdentityLink[]>();
      for (const { userId, issuer, subject } of rows) links.set(userId, [...(links.get(userId) ?? []), { issuer, subject }]);
      return links;
    },

    /** Makes `links` the user's whole list; a pair another human holds is a conflict. Run in the user write's transaction. */
    async replace(userId: string, links: IdentityLink[], tx: Writer): Promise<void> {
      if (links.length > 0) {
        const taken = await tx.externalIdentity.findFirst({
          where: { OR: links.map(({ issuer, subject }) => ({ issuer, subject })), userId: { not: userId } },
          select: { issuer: true, subject: true },
        });
        if (taken) throw new ConflictError(`the external identity ${taken.subject} at ${taken.issuer} belongs to another user`);
      }
      await tx.externalIdentity.deleteMany({ where: { userId } });
      await tx.externalIdentity.createMany({ data: links.map(({ issuer, subject }) => ({ issuer, subject, userId })) });
    },
  };
}

export type ExternalIdentityStore = ReturnType<typeof createExternalIdentityStore>;
