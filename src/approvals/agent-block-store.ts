// A human's "stop asking me" list: agents that may not ask this human for approval again (consent or CIBA) until
// unblocked. The block itself only refuses new requests; the /approvals page withdraws what already stands through
// the revocation service in the same action.
import type { PrismaClient } from '../db/client.js';

export function createAgentBlockStore(prisma: PrismaClient) {
  return {
    async isBlocked(userId: string, agentId: string): Promise<boolean> {
      const row = await prisma.agentBlock.findUnique({ where: { userId_agentId: { userId, agentId } }, select: { agentId: true } });
      return row !== null;
    },
    /** Idempotent: blocking twice keeps the first block's date. */
    async block(userId: string, agentId: string): Promise<void> {
      await prisma.agentBlock.upsert({ where: { userId_agentId: { userId, agentId } }, create: { userId, agentId }, update: {} });
    },
    async unblock(userId: string, agentId: string): Promise<void> {
      await prisma.agentBlock.deleteMany({ where: { userId, agentId } });
    },
    async listFor(userId: string): Promise<Array<{ agentId: string; createdAt: Date }>> {
      return prisma.agentBlock.findMany({ where: { userId }, orderBy: { createdAt: 'desc' }, select: { agentId: true, createdAt: true } });
    },
  };
}

export type AgentBlockStore = ReturnType<typeof createAgentBlockStore>;
