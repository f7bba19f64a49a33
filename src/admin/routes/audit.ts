// /admin/v1/audit: the audit log, newest first, cursor-paginated by sequence number.
import { decodeCursor, encodeCursor } from '../http.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { auditEventSchema, auditListQuery, listOf } from '../schemas.js';
import type { AdminServices } from '../services.js';
import { auditEventView } from '../views.js';

export function auditRoutes(s: AdminServices): AdminRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/audit',
      operationId: 'listAuditEvents',
      tag: 'audit',
      summary: 'Read the audit log, newest first',
      query: auditListQuery,
      response: listOf(auditEventSchema),
      handle: async ({ query }) => {
        const before = decodeCursor('audit', query.cursor, /^[1-9]\d{0,18}$/);
        const page = await s.auditEvents.list({
          limit: query.limit,
          before: before === undefined ? undefined : BigInt(before),
          actorKind: query.actor_type,
          agentId: query.agent_id,
          userId: query.user_id,
          action: query.action,
          since: query.since === undefined ? undefined : new Date(query.since),
          until: query.until === undefined ? undefined : new Date(query.until),
        });
        return { items: page.items.map(auditEventView), next_cursor: encodeCursor('audit', page.nextCursor) };
      },
    }),
  ];
}
