// /admin/v1/tokens: records of issued tokens (never a token itself), newest first.
import { decodeCursor, encodeCursor } from '../http.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { NotFoundError } from '../../errors.js';
import { issuedTokenDetailSchema, issuedTokenSchema, listOf, tokenListQuery } from '../schemas.js';
import type { AdminServices } from '../services.js';
import { issuedTokenDetailView, issuedTokenView } from '../views.js';

export function tokenRoutes(s: AdminServices): AdminRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/tokens',
      operationId: 'listIssuedTokens',
      tag: 'tokens',
      summary: 'List records of issued tokens, newest first',
      query: tokenListQuery,
      response: listOf(issuedTokenSchema),
      handle: async ({ query }) => {
        const page = await s.issuedTokens.list({
          limit: query.limit,
          cursor: decodeCursor('tokens', query.cursor, /^.{1,512}$/s),
          agentId: query.agent_id,
          userId: query.user_id,
          active: query.active === undefined ? undefined : query.active === 'true',
        });
        return { items: page.items.map(issuedTokenView), next_cursor: encodeCursor('tokens', page.nextCursor) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/tokens/{jti}',
      operationId: 'getIssuedToken',
      tag: 'tokens',
      summary: "One issued token's record with its decision trail (approval, ceilings and limits applied)",
      params: { jti: /^[A-Za-z0-9_-]{1,128}$/ },
      response: issuedTokenDetailSchema,
      errors: [404],
      handle: async ({ params }) => {
        const record = await s.issuedTokens.get(params.jti!);
        if (!record) throw new NotFoundError(`no token record ${params.jti}`);
        return issuedTokenDetailView(record);
      },
    }),
  ];
}
