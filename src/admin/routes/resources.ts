// /admin/v1/resources: resource servers (token audiences) and the scopes they define. The identifier is
// immutable: tokens, agents and approvals name it.
import { recordAuditEvent } from '../../audit/audit-log.js';
import { NotFoundError } from '../../errors.js';
import { decodeCursor, encodeCursor, UUID } from '../http.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { listOf, resourceCreateSchema, resourceListQuery, resourceSchema, resourceUpdateSchema } from '../schemas.js';
import { adminEvent, type AdminServices } from '../services.js';
import { resourceView } from '../views.js';

const TAG = 'resources';

export function resourceRoutes(s: AdminServices): AdminRoute[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/resources',
      operationId: 'createResource',
      tag: TAG,
      summary: 'Register a resource server',
      description: 'authorization_server (an issuer URL) makes it a remote resource: served by that authorization server, reached through an ID-JAG issued here.',
      body: resourceCreateSchema,
      status: 201,
      response: resourceSchema,
      errors: [409],
      handle: ({ body, actor }) =>
        s.prisma.$transaction(async (tx) => {
          const resource = await s.resources.create(body, tx);
          await recordAuditEvent(tx, adminEvent(actor, 'resource.created', { details: { id: resource.id, identifier: resource.identifier } }));
          return resourceView(resource);
        }),
    }),
    defineRoute({
      method: 'GET',
      path: '/resources',
      operationId: 'listResources',
      tag: TAG,
      summary: 'List resource servers by identifier',
      query: resourceListQuery,
      response: listOf(resourceSchema),
      handle: async ({ query }) => {
        const page = await s.resources.page({ limit: query.limit, cursor: decodeCursor('resources', query.cursor, UUID) });
        return { items: page.items.map(resourceView), next_cursor: encodeCursor('resources', page.nextCursor) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/resources/{id}',
      operationId: 'getResource',
      tag: TAG,
      summary: 'One resource server',
      response: resourceSchema,
      errors: [404],
      handle: async ({ params }) => {
        const resource = await s.resources.findById(params.id!);
        if (!resource) throw new NotFoundError(`no resource ${params.id}`);
        return resourceView(resource);
      },
    }),
    defineRoute({
      method: 'PATCH',
      path: '/resources/{id}',
      operationId: 'updateResource',
      tag: TAG,
      summary: 'Change name, scopes, access token lifetime, dynamic clients or authorization server',
      description: 'A scope still in an agent’s scope ceiling (and defined by no other audience of that agent) cannot be removed: 409.',
      body: resourceUpdateSchema,
      response: resourceSchema,
      errors: [404, 409],
      handle: ({ params, body, actor }) =>
        s.prisma.$transaction(async (tx) => {
          const { after } = await s.resources.update(params.id!, body, tx);
          const fields = Object.keys(body).filter((key) => body[key as keyof typeof body] !== undefined);
          await recordAuditEvent(tx, adminEvent(actor, 'resource.updated', { details: { id: after.id, identifier: after.identifier, fields } }));
          return resourceView(after);
        }),
    }),
  ];
}
