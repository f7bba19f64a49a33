// /admin/v1/trusted-issuers: outside JWT issuers this server trusts, for agents' workload identities (client
// assertions from their platform instead of secrets) and for ID-JAGs (jwt-bearer grant). The issuer identifier is
// immutable: the links of humans and agents name it.
import { z } from 'zod';
import { recordAuditEvent } from '../../audit/audit-log.js';
import { decodeCursor, encodeCursor, UUID } from '../http.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { listOf, trustedIssuerCreateSchema, trustedIssuerListQuery, trustedIssuerSchema, trustedIssuerUpdateSchema } from '../schemas.js';
import { adminEvent, type AdminServices } from '../services.js';
import { trustedIssuerView } from '../views.js';

const TAG = 'trusted-issuers';

export function trustedIssuerRoutes(s: AdminServices): AdminRoute[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/trusted-issuers',
      operationId: 'createTrustedIssuer',
      tag: TAG,
      summary: 'Trust an outside JWT issuer (a workload platform or an identity provider)',
      description:
        'Exactly one of jwks (inline public keys) and jwks_uri (https). allowed_clients must name registered clients (apps or agents), allowed_resources registered resources; absent or null: any. A duplicate issuer is a conflict (409).',
      body: trustedIssuerCreateSchema,
      status: 201,
      response: trustedIssuerSchema,
      errors: [409],
      handle: ({ body, actor }) =>
        s.prisma.$transaction(async (tx) => {
          const issuer = await s.trustedIssuers.create(
            {
              issuer: body.issuer,
              name: body.name,
              jwks: body.jwks,
              jwksUri: body.jwks_uri,
              purposes: body.purposes,
              allowedClients: body.allowed_clients,
              allowedResources: body.allowed_resources,
            },
            tx,
          );
          await recordAuditEvent(tx, adminEvent(actor, 'trusted_issuer.created', { details: { id: issuer.id, issuer: issuer.issuer, purposes: issuer.purposes } }));
          return trustedIssuerView(issuer);
        }),
    }),
    defineRoute({
      method: 'GET',
      path: '/trusted-issuers',
      operationId: 'listTrustedIssuers',
      tag: TAG,
      summary: 'List trusted issuers by issuer',
      query: trustedIssuerListQuery,
      response: listOf(trustedIssuerSchema),
      handle: async ({ query }) => {
        const page = await s.trustedIssuers.list({ limit: query.limit, cursor: decodeCursor('trusted-issuers', query.cursor, UUID) });
        return { items: page.items.map(trustedIssuerView), next_cursor: encodeCursor('trusted-issuers', page.nextCursor) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/trusted-issuers/{id}',
      operationId: 'getTrustedIssuer',
      tag: TAG,
      summary: 'One trusted issuer',
      response: trustedIssuerSchema,
      errors: [404],
      handle: async ({ params }) => trustedIssuerView(await s.trustedIssuers.get(params.id!)),
    }),
    defineRoute({
      method: 'PATCH',
      path: '/trusted-issuers/{id}',
      operationId: 'updateTrustedIssuer',
      tag: TAG,
      summary: 'Change a trusted issuer’s name, keys, purposes or allow-lists',
      description:
        'The issuer identifier cannot change (links of humans and agents name it): trust the new one and delete the old. Giving jwks or jwks_uri replaces the key source; lists given replace the stored ones (null: any).',
      body: trustedIssuerUpdateSchema,
      response: trustedIssuerSchema,
      errors: [404],
      handle: ({ params, body, actor }) =>
        s.prisma.$transaction(async (tx) => {
          const { after } = await s.trustedIssuers.update(
            params.id!,
            {
              name: body.name,
              jwks: body.jwks,
              jwksUri: body.jwks_uri,
              purposes: body.purposes,
              allowedClients: body.allowed_clients,
              allowedResources: body.allowed_resources,
            },
            tx,
          );
          const fields = Object.keys(body).filter((key) => body[key as keyof typeof body] !== undefined);
          await recordAuditEvent(tx, adminEvent(actor, 'trusted_issuer.updated', { details: { id: after.id, issuer: after.issuer, fields } }));
          return trustedIssuerView(after);
        }),
    }),
    defineRoute({
      method: 'DELETE',
      path: '/trusted-issuers/{id}',
      operationId: 'deleteTrustedIssuer',
      tag: TAG,
      summary: 'Stop trusting an issuer',
      description:
        'Humans’ external identities and agents’ workload identities naming the issuer stay, but authenticate nothing from now on (an agent whose only credential they were can no longer get tokens); trusting the same issuer again revives them.',
      status: 204,
      response: z.void(),
      responseDescription: 'Deleted',
      errors: [404],
      handle: ({ params, actor }) =>
        s.prisma.$transaction(async (tx) => {
          const removed = await s.trustedIssuers.delete(params.id!, tx);
          await recordAuditEvent(tx, adminEvent(actor, 'trusted_issuer.deleted', { details: { id: removed.id, issuer: removed.issuer } }));
        }),
    }),
  ];
}
