// /admin/v1/decisions: a dry run of the policy for admin and auditor keys. Same decision function as every grant;
// nothing is issued, nothing is recorded.
import { defineRoute, type AdminRoute } from '../route.js';
import { decisionRequestSchema, decisionSchema } from '../schemas.js';
import type { AdminServices } from '../services.js';

export function decisionRoutes(s: AdminServices): AdminRoute[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/decisions',
      operationId: 'decide',
      tag: 'decisions',
      summary: 'Dry run of the policy: would this client get these scopes at this resource (for this human)?',
      description:
        'Answers what the token endpoint would decide, with the rule that refused or the trail of limits that shaped the allowance. ' +
        'Facts only a real request has are assumed at their most permissive: for an exchange, a subject token carrying every requested scope; ' +
        "for the code, refresh and CIBA grants, a consent equal to the human's standing approvals. Auditor keys may call it.",
      body: decisionRequestSchema,
      response: decisionSchema,
      errors: [404],
      readOnly: true,
      handle: async ({ body }) => {
        const decision = await s.decisions({ clientId: body.client_id, userId: body.user_id, resource: body.resource, scope: body.scope, grantType: body.grant_type });
        return decision.allowed
          ? { allowed: true, scopes: decision.scopes, lifetime: decision.lifetime, trail: decision.trail }
          : { allowed: false, scopes: [], lifetime: null, rule: decision.rule, error: decision.error, description: decision.description, trail: decision.trail };
      },
    }),
  ];
}
