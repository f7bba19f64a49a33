// /admin/v1/audit: the audit log, newest first, cursor-paginated by sequence number; and the same filters as an
// NDJSON export (one event per line, streamed page by page) for log pipelines and auditors.
import { Readable } from 'node:stream';
import { z } from 'zod';
import { InvalidInputError } from '../../errors.js';
import { decodeCursor, encodeCursor } from '../http.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { auditEventSchema, auditListQuery, listOf } from '../schemas.js';
import type { AdminServices } from '../services.js';
import { auditEventView } from '../views.js';

/** The largest value of the audit log's bigint sequence. */
const MAX_SEQUENCE = 9_223_372_036_854_775_807n;

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
        // Nineteen digits can still pass PostgreSQL's bigint: such a cursor was never handed out.
        if (before !== undefined && BigInt(before) > MAX_SEQUENCE) {
          throw new InvalidInputError('the cursor is not valid', [{ path: 'cursor', message: 'not a cursor of this list (audit)' }]);
        }
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
    defineRoute({
      method: 'GET',
      path: '/audit/export',
      operationId: 'exportAuditEvents',
      tag: 'audit',
      summary: 'Export the audit log as NDJSON (application/x-ndjson), newest first',
      description: 'The filters of GET /audit; every matching event, one JSON object per line, streamed.',
      query: auditListQuery.omit({ cursor: true, limit: true }),
      response: z.string().describe('one audit event (the shape of GET /audit items) per line'),
      responseDescription: 'NDJSON stream',
      handle: async ({ ctx, query }) => {
        const filters = {
          actorKind: query.actor_type,
          agentId: query.agent_id,
          userId: query.user_id,
          action: query.action,
          since: query.since === undefined ? undefined : new Date(query.since),
          until: query.until === undefined ? undefined : new Date(query.until),
        };
        async function* lines() {
          let before: bigint | undefined;
          do {
            const page = await s.auditEvents.list({ ...filters, limit: 500, before });
            for (const event of page.items) yield `${JSON.stringify(auditEventView(event))}\n`;
            before = page.nextCursor === null ? undefined : BigInt(page.nextCursor);
          } while (before !== undefined);
        }
        ctx.type = 'application/x-ndjson';
        // Documented as text (the lines); what Koa sends is the stream.
        return Readable.from(lines()) as unknown as string;
      },
    }),
  ];
}
