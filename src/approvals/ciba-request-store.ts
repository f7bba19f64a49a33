// Read-only views of backchannel (CIBA) requests for operators (metrics). The requests themselves are written by
// src/approvals/backchannel-approvals.ts.
import type { PrismaClient } from '../db/client.js';

export function createCibaRequestStore(prisma: PrismaClient) {
  return {
    /** Requests still waiting for a human: pending and not expired. */
    countPending(now = new Date()): Promise<number> {
      return prisma.cibaRequest.count({ where: { status: 'pending', expiresAt: { gt: now } } });
    },
  };
}
