// /admin/v1/clients: apps, the OAuth clients that are not agents (agents are clients too, managed under /agents; here
// their ids name nothing). An app's allowed resources and scope ceiling are checked by the policy's rule and its
// OAuth metadata by oidc-provider before anything is written; deleting an app revokes its grants and live tokens in
// the same transaction (the revocation service, which audits it).
import { appClientMetadata, defaultGrantTypes, type NewApp } from '../../clients/client-store.js';
import { recordAuditEvent } from '../../audit/audit-log.js';
import { InvalidInputError } from '../../errors.js';
import { decodeCursor, encodeCursor, UUID } from '../http.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { appCreatedSchema, appCreateSchema, appListQuery, appSchema, appSecretSchema, appUpdateSchema, listOf, revokedCountSchema } from '../schemas.js';
import { adminEvent, type AdminServices } from '../services.js';
import { appView } from '../views.js';

const TAG = 'clients';

/** Fields oidc-provider's messages name, most specific first (post_logout_redirect_uris contains redirect_uris). */
const METADATA_FIELDS = ['post_logout_redirect_uris', 'redirect_uris', 'jwks', 'token_endpoint_auth_method', 'grant_types', 'application_type', 'response_types'];

export function clientRoutes(s: AdminServices): AdminRoute[] {
  /** The app's OAuth client metadata must also satisfy oidc-provider, or the app could never authenticate. */
  async function checkClientMetadata(app: NewApp, clientId = 'validation') {
    const secret = app.authMethod === 'client_secret_basic' || app.authMethod === 'client_secret_post' ? { client_secret: 'placeholder-for-validation-only' } : {};
    try {
      await s.validateClientMetadata({ ...appClientMetadata(clientId, app), ...secret });
    } catch (error) {
      const { error: code, error_description: description } = error as { error?: string; error_description?: string };
      if (code !== 'invalid_client_metadata' && code !== 'invalid_redirect_uri') throw error;
      const message = description ?? code;
      const path = METADATA_FIELDS.find((field) => message.includes(field)) ?? (code === 'invalid_redirect_uri' ? 'redirect_uris' : '');
      throw new InvalidInputError('the app is not a valid OAuth client', [{ path, message }]);
    }
  }

  return [
    defineRoute({
      method: 'POST',
      path: '/clients',
      operationId: 'createClient',
      tag: TAG,
      summary: 'Register an app; for secret authentication the response carries client_secret, once',
      description:
        'resources must name registered resource servers and scopes (the ceiling) must be defined by them. An app with none gets no access token for any resource (deny by default); a sign-in-only app needs none (ID token and userinfo only).',
      body: appCreateSchema,
      status: 201,
      response: appCreatedSchema,
      handle: async ({ body, actor }) => {
        const redirectUris = body.redirect_uris ?? [];
        const input: NewApp = {
          name: body.name,
          redirectUris,
          postLogoutRedirectUris: body.post_logout_redirect_uris ?? [],
          grantTypes: body.grant_types ?? defaultGrantTypes(redirectUris),
          authMethod: body.token_endpoint_auth_method ?? 'client_secret_basic',
          applicationType: body.application_type,
          jwks: body.jwks,
          resources: body.resources ?? [],
          scopes: body.scopes ?? [],
          resourceServer: body.resource_server,
          dpopBoundAccessTokens: body.dpop_bound_access_tokens ?? false,
        };
        await s.clients.validateApp(input);
        await checkClientMetadata(input);
        return s.prisma.$transaction(async (tx) => {
          const created = await s.clients.createApp(input, tx);
          const app = await s.clients.getApp(created.clientId, tx);
          await recordAuditEvent(
            tx,
            adminEvent(actor, 'client.created', {
              clientId: app.id,
              details: {
                name: app.name,
                grant_types: app.grantTypes,
                token_endpoint_auth_method: app.authMethod,
                resources: app.resources,
                scopes: app.scopes,
                resource_server: app.resourceServer,
              },
            }),
          );
          return { ...appView(app), ...(created.clientSecret ? { client_secret: created.clientSecret } : {}) };
        });
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/clients',
      operationId: 'listClients',
      tag: TAG,
      summary: 'List apps (agents are listed under /agents)',
      query: appListQuery,
      response: listOf(appSchema),
      handle: async ({ query }) => {
        const page = await s.clients.listApps({ limit: query.limit, cursor: decodeCursor('clients', query.cursor, UUID) });
        return { items: page.items.map(appView), next_cursor: encodeCursor('clients', page.nextCursor) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/clients/{id}',
      operationId: 'getClient',
      tag: TAG,
      summary: 'One app',
      response: appSchema,
      errors: [404],
      handle: async ({ params }) => appView(await s.clients.getApp(params.id!)),
    }),
    defineRoute({
      method: 'PATCH',
      path: '/clients/{id}',
      operationId: 'updateClient',
      tag: TAG,
      summary: 'Change an app',
      description:
        'Lists given replace the stored ones. A narrower ceiling or fewer resources apply from the next token request; tokens already issued live out their (minutes-long) lifetime unless revoked. token_endpoint_auth_method cannot change.',
      body: appUpdateSchema,
      response: appSchema,
      errors: [404],
      handle: async ({ params, body, actor }) => {
        const { current, next } = await s.clients.changedApp(params.id!, {
          name: body.name,
          redirectUris: body.redirect_uris,
          postLogoutRedirectUris: body.post_logout_redirect_uris,
          grantTypes: body.grant_types,
          jwks: body.jwks,
          applicationType: body.application_type,
          resources: body.resources,
          scopes: body.scopes,
          resourceServer: body.resource_server,
          dpopBoundAccessTokens: body.dpop_bound_access_tokens,
        });
        await s.clients.validateApp(next);
        await checkClientMetadata(next, current.id);
        return s.prisma.$transaction(async (tx) => {
          const app = await s.clients.updateApp(current.id, next, tx);
          const fields = Object.keys(body).filter((key) => body[key as keyof typeof body] !== undefined);
          await recordAuditEvent(tx, adminEvent(actor, 'client.updated', { clientId: app.id, details: { fields, resources: app.resources, scopes: app.scopes } }));
          return appView(app);
        });
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/clients/{id}',
      operationId: 'deleteClient',
      tag: TAG,
      summary: 'Delete an app: its grants and live tokens are revoked and the app removed, in one transaction',
      response: revokedCountSchema,
      errors: [404],
      handle: async ({ params, actor }) => {
        const app = await s.clients.getApp(params.id!);
        return s.revocation.removeClient(app.id, actor, (tx) => s.clients.deleteApp(app.id, tx));
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/clients/{id}/secret',
      operationId: 'rotateClientSecret',
      tag: TAG,
      summary: 'Rotate the app’s client secret: the new one is shown once, the old one stops working at once',
      response: appSecretSchema,
      errors: [404],
      handle: ({ params, actor }) =>
        s.prisma.$transaction(async (tx) => {
          const clientSecret = await s.clients.rotateAppSecret(params.id!, tx);
          await recordAuditEvent(tx, adminEvent(actor, 'client.secret_rotated', { clientId: params.id! }));
          return { id: params.id!, client_secret: clientSecret };
        }),
    }),
  ];
}
