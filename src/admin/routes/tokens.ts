// /admin/v1/tokens: records of issued tokens (never a token itself), newest first.
import { decodeCursor, encodeCursor } from '../http.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { issuedTokenSchema, listOf, tokenListQuery } from '../schemas.js';
import type { AdminServices } from '../services.js';
import { issuedTokenView } from '../views.js';

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
  ];
}
