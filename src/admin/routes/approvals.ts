// /admin/v1/approvals: standing delegations. POST is an admin-provisioned delegation (granted_via "admin"),
// audited as such; DELETE revokes the approval and every token issued under it.
import { recordAuditEvent } from '../../audit/audit-log.js';
import { decodeCursor, encodeCursor, UUID } from '../http.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { approvalCreateSchema, approvalListQuery, approvalRevokedSchema, approvalSchema, listOf } from '../schemas.js';
import { adminEvent, type AdminServices } from '../services.js';
import { approvalView } from '../views.js';

const TAG = 'approvals';

export function approvalRoutes(s: AdminServices): AdminRoute[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/approvals',
      operationId: 'createApproval',
      tag: TAG,
      summary: 'Provision a delegation from a human to an agent (granted_via "admin")',
      description: 'resources must be among the agent’s audiences and scopes within its ceiling and defined by those resources.',
      body: approvalCreateSchema,
      status: 201,
      response: approvalSchema,
      handle: ({ body, actor }) =>
        s.prisma.$transaction(async (tx) => {
          const approval = await s.approvals.create(
            {
              userId: body.user_id,
              agentId: body.agent_id,
              scopes: body.scopes,
              resources: body.resources,
              expiresAt: body.expires_at === undefined ? undefined : new Date(body.expires_at),
              grantedVia: 'admin',
            },
            tx,
          );
          await recordAuditEvent(
            tx,
            adminEvent(actor, 'approval.created', {
              userId: approval.userId,
              agentId: approval.agentId,
              details: {
                approval_id: approval.id,
                granted_via: 'admin',
                scopes: approval.scopes,
                resources: approval.resources,
                expires_at: approval.expiresAt.toISOString(),
              },
            }),
          );
          return approvalView(approval);
        }),
    }),
    defineRoute({
      method: 'GET',
      path: '/approvals',
      operationId: 'listApprovals',
      tag: TAG,
      summary: 'List approvals, newest first',
      query: approvalListQuery,
      response: listOf(approvalSchema),
      handle: async ({ query }) => {
        const page = await s.approvals.list({
          limit: query.limit,
          cursor: decodeCursor('approvals', query.cursor, UUID),
          userId: query.user_id,
          agentId: query.agent_id,
          status: query.status,
        });
        return { items: page.items.map((approval) => approvalView(approval)), next_cursor: encodeCursor('approvals', page.nextCursor) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/approvals/{id}',
      operationId: 'getApproval',
      tag: TAG,
      summary: 'One approval',
      response: approvalSchema,
      errors: [404],
      handle: async ({ params }) => approvalView(await s.approvals.get(params.id!)),
    }),
    defineRoute({
      method: 'DELETE',
      path: '/approvals/{id}',
      operationId: 'revokeApproval',
      tag: TAG,
      summary: 'Revoke an approval and every token issued under it (idempotent; the record stays)',
      response: approvalRevokedSchema,
      errors: [404],
      handle: async ({ params, actor }) => {
        const { revoked } = await s.revocation.revoke({ approvalId: params.id! }, actor);
        return { revoked, approval: approvalView(await s.approvals.get(params.id!)) };
      },
    }),
  ];
}
