// /admin/v1/revocations: revoke by token, approval, agent, human, or agent-for-human, through the revocation
// service (which audits). Idempotent: a repeated call answers { revoked: 0 }.
import { NotFoundError } from '../../errors.js';
import type { RevocationTarget } from '../../revocation/revocation-service.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { revocationSchema, revokedCountSchema } from '../schemas.js';
import type { AdminServices } from '../services.js';

export function revocationRoutes(s: AdminServices): AdminRoute[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/revocations',
      operationId: 'revoke',
      tag: 'revocations',
      summary: 'Revoke tokens (and everything derived from them) and approvals',
      description:
        'Body: exactly one of {jti}, {approval_id}, {agent_id}, {user_id}, {agent_id, user_id}. An unknown jti revokes nothing (0); an unknown approval, agent or user is 404.',
      body: revocationSchema,
      response: revokedCountSchema,
      errors: [404],
      handle: async ({ body, actor }) => {
        // Unknown ids are most likely typos: say so rather than answer a reassuring 0.
        if (body.agent_id !== undefined) await s.agents.get(body.agent_id);
        if (body.user_id !== undefined && !(await s.users.findById(body.user_id))) throw new NotFoundError(`no user ${body.user_id}`);
        return s.revocation.revoke(target(body), actor);
      },
    }),
  ];
}

function target(body: { jti?: string | undefined; approval_id?: string | undefined; agent_id?: string | undefined; user_id?: string | undefined }): RevocationTarget {
  if (body.jti !== undefined) return { jti: body.jti };
  if (body.approval_id !== undefined) return { approvalId: body.approval_id };
  if (body.agent_id !== undefined && body.user_id !== undefined) return { agentId: body.agent_id, userId: body.user_id };
  if (body.agent_id !== undefined) return { agentId: body.agent_id };
  return { userId: body.user_id! };
}
