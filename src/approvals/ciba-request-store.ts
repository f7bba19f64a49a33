// Backchannel (CIBA) requests waiting for a human: what an agent asked, of whom, until when, and how it was answered.
// oidc-provider keeps the protocol state; these rows are what /approvals shows and what the abuse limits count.
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';

export type CibaRequest = {
  id: string;
  userId: string;
  agentId: string;
  scopes: string[];
  resources: string[];
  bindingMessage: string | null;
  status: 'pending' | 'approved' | 'denied';
  expiresAt: Date;
  createdAt: Date;
};

type Writer = PrismaClient | Prisma.TransactionClient;

export function createCibaRequestStore(prisma: PrismaClient) {
  const pendingWhere = (now: Date) => ({ status: 'pending' as const, expiresAt: { gt: now } });

  return {
    /** Requests still waiting for a human: all of them (metrics), an agent's, or an agent's for one human. */
    countPending(filter: { agentId?: string; userId?: string } = {}, now = new Date()): Promise<number> {
      return prisma.cibaRequest.count({ where: { ...filter, ...pendingWhere(now) } });
    },

    create(row: Omit<CibaRequest, 'status' | 'createdAt'>): Promise<CibaRequest> {
      return prisma.cibaRequest.create({ data: row });
    },

    /**
     * Records a poll unless the agent polled within the interval: one conditional UPDATE, so concurrent polls cannot
     * both pass. False means "too fast" (slow_down).
     */
    async recordPoll(id: string, agentId: string, intervalSeconds: number): Promise<boolean> {
      const polled = await prisma.$executeRaw`
        UPDATE ciba_requests SET last_polled_at = now()
        WHERE id = ${id} AND agent_id = ${agentId}
          AND (last_polled_at IS NULL OR last_polled_at <= now() - make_interval(secs => ${intervalSeconds}))`;
      return polled > 0;
    },

    async find(id: string, agentId: string): Promise<CibaRequest | undefined> {
      return (await prisma.cibaRequest.findFirst({ where: { id, agentId } })) ?? undefined;
    },

    listPending(userId: string, now = new Date()): Promise<CibaRequest[]> {
      return prisma.cibaRequest.findMany({ where: { userId, ...pendingWhere(now) }, orderBy: { createdAt: 'asc' }, take: 100 });
    },

    async findPending(id: string, userId: string, now = new Date()): Promise<CibaRequest | undefined> {
      return (await prisma.cibaRequest.findFirst({ where: { id, userId, ...pendingWhere(now) } })) ?? undefined;
    },

    /** Claims a pending request for one answer: two answers (two tabs, a double click) cannot both take effect. */
    async claim(id: string, status: 'approved' | 'denied', now = new Date()): Promise<boolean> {
      const claimed = await prisma.cibaRequest.updateMany({ where: { id, status: 'pending' }, data: { status, answeredAt: now } });
      return claimed.count > 0;
    },

    /** Gives a claimed request back (its answer could not be saved). */
    async unclaim(id: string): Promise<void> {
      await prisma.cibaRequest.update({ where: { id }, data: { status: 'pending', answeredAt: null } });
    },

    async linkApproval(id: string, approvalId: string, tx: Writer = prisma): Promise<void> {
      await tx.cibaRequest.update({ where: { id }, data: { approvalId } });
    },
  };
}

export type CibaRequestStore = ReturnType<typeof createCibaRequestStore>;
