// /admin/v1/admin-keys: keys for this API. The key itself is in the creation response only.
import { recordAuditEvent } from '../../audit/audit-log.js';
import { decodeCursor, encodeCursor, UUID } from '../http.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { adminKeyCreatedSchema, adminKeyCreateSchema, adminKeySchema, listOf, pageQuery } from '../schemas.js';
import { adminEvent, type AdminServices } from '../services.js';
import { adminKeyView } from '../views.js';
import { z } from 'zod';

const TAG = 'admin keys';

export function adminKeyRoutes(s: AdminServices): AdminRoute[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/admin-keys',
      operationId: 'createAdminKey',
      tag: TAG,
      summary: 'Create an admin key; the response carries the key, once',
      body: adminKeyCreateSchema,
      status: 201,
      response: adminKeyCreatedSchema,
      responseDescription: 'Created; `key` is never shown again',
      handle: ({ body, admin, actor }) =>
        s.prisma.$transaction(async (tx) => {
          const { adminKey, key } = await s.adminKeys.create({ name: body.name, role: body.role, createdBy: admin.id }, tx);
          await recordAuditEvent(tx, adminEvent(actor, 'admin_key.created', { details: { id: adminKey.id, name: adminKey.name, role: adminKey.role } }));
          return { ...adminKeyView(adminKey), key };
        }),
    }),
    defineRoute({
      method: 'GET',
      path: '/admin-keys',
      operationId: 'listAdminKeys',
      tag: TAG,
      summary: 'List admin keys (never the keys themselves), oldest first',
      query: z.strictObject({ ...pageQuery }),
      response: listOf(adminKeySchema),
      handle: async ({ query }) => {
        const page = await s.adminKeys.list({ limit: query.limit, cursor: decodeCursor('admin-keys', query.cursor, UUID) });
        return { items: page.items.map(adminKeyView), next_cursor: encodeCursor('admin-keys', page.nextCursor) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/admin-keys/{id}',
      operationId: 'revokeAdminKey',
      tag: TAG,
      summary: 'Revoke an admin key (idempotent; the record stays)',
      description:
        'The key is refused from the next request on. Revoking the last admin key is allowed: `npx agentauth admin-keys create` (database access) is the way back in.',
      response: adminKeySchema,
      errors: [404],
      handle: ({ params, actor }) =>
        s.prisma.$transaction(async (tx) => {
          const { adminKey, changed } = await s.adminKeys.revoke(params.id!, tx);
          if (changed) await recordAuditEvent(tx, adminEvent(actor, 'admin_key.revoked', { details: { id: adminKey.id, name: adminKey.name, role: adminKey.role } }));
          return adminKeyView(adminKey);
        }),
    }),
  ];
}
