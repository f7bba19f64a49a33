// The audit log as the admin API reads it: newest first, filtered, paged by sequence number (keyset pagination,
// so pages stay stable while new events are appended).
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';

export type AuditEventRecord = Prisma.AuditEventGetPayload<object>;

export type AuditEventFilter = {
  actorKind?: string | undefined;
  agentId?: string | undefined;
  userId?: string | undefined;
  action?: string | undefined;
  /** Inclusive. */
  since?: Date | undefined;
  /** Exclusive. */
  until?: Date | undefined;
};

export function createAuditEventQuery(prisma: PrismaClient) {
  return {
    /** `before` is the seq of the last event of the previous page. */
    async list(filter: AuditEventFilter & { limit: number; before?: bigint | undefined }) {
      const occurredAt: Prisma.DateTimeFilter = {
        ...(filter.since ? { gte: filter.since } : {}),
        ...(filter.until ? { lt: filter.until } : {}),
      };
      const rows = await prisma.auditEvent.findMany({
        where: {
          ...(filter.actorKind ? { actorKind: filter.actorKind } : {}),
          ...(filter.agentId ? { agentId: filter.agentId } : {}),
          ...(filter.userId ? { userId: filter.userId } : {}),
          ...(filter.action ? { action: filter.action } : {}),
          ...(filter.since || filter.until ? { occurredAt } : {}),
          ...(filter.before !== undefined ? { seq: { lt: filter.before } } : {}),
        },
        orderBy: { seq: 'desc' },
        take: filter.limit + 1,
      });
      const items = rows.slice(0, filter.limit);
      return { items, nextCursor: rows.length > filter.limit ? items.at(-1)!.seq.toString() : null };
    },
  };
}
