// /admin/v1/agents: agent identities (each also an OAuth client with the same id), their secrets and the kill
// switch. Suspension and activation are audited by the revocation service, which performs them. An agent with
// workload identities authenticates with its platform's assertions alone (no secret, no keys of its own).
import { agentClientMetadata, type Agent } from '../../agents/agent-store.js';
import { runtimeClientMetadata } from '../../clients/client-store.js';
import { recordAuditEvent } from '../../audit/audit-log.js';
import { InvalidInputError } from '../../errors.js';
import { AGENT_ID, decodeCursor, encodeCursor } from '../http.js';
import { defineRoute, type AdminRoute } from '../route.js';
import {
  agentCreatedSchema,
  agentCreateSchema,
  agentListQuery,
  agentSchema,
  agentSecretSchema,
  agentUpdateSchema,
  listOf,
  revokedCountSchema,
} from '../schemas.js';
import { adminEvent, type AdminServices } from '../services.js';
import { agentView } from '../views.js';

const TAG = 'agents';

export function agentRoutes(s: AdminServices): AdminRoute[] {
  /**
   * The agent's OAuth client metadata must also satisfy oidc-provider, as the runtime presents it (a workload agent
   * as its seam's credential), or the agent could never authenticate.
   */
  async function checkClientMetadata(agent: Pick<Agent, 'id' | 'name' | 'tokenEndpointAuthMethod' | 'jwks' | 'redirectUris' | 'workloadIdentities'>) {
    const secret = agent.tokenEndpointAuthMethod === 'private_key_jwt' ? {} : { client_secret: 'placeholder-for-validation-only' };
    try {
      await s.validateClientMetadata(runtimeClientMetadata({ ...agentClientMetadata(agent), ...secret }));
    } catch (error) {
      const { error: code, error_description: description } = error as { error?: string; error_description?: string };
      if (code !== 'invalid_client_metadata' && code !== 'invalid_redirect_uri') throw error;
      const message = description ?? code;
      const path = code === 'invalid_redirect_uri' ? 'redirect_uris' : (['jwks', 'redirect_uris', 'token_endpoint_auth_method'].find((field) => message.includes(field)) ?? '');
      throw new InvalidInputError('the agent is not a valid OAuth client', [{ path, message }]);
    }
  }

  return [
    defineRoute({
      method: 'POST',
      path: '/agents',
      operationId: 'createAgent',
      tag: TAG,
      summary: 'Register an agent; for secret authentication the response carries client_secret, once',
      description:
        'audiences must name registered resource servers; scopes (the ceiling) must be defined by them. With workload_identities (trusted issuers with purpose workload) the agent authenticates with its platform’s assertions: token_endpoint_auth_method is private_key_jwt (the default then), no jwks and no secret; a pair linked to another agent is a conflict (409).',
      body: agentCreateSchema,
      status: 201,
      response: agentCreatedSchema,
      errors: [409],
      handle: async ({ body, actor }) => {
        await s.trustedIssuers.checkLinks(body.workload_identities ?? [], 'workload', 'workload_identities');
        const input = {
          name: body.name,
          description: body.description,
          ownerUserId: body.owner_user_id,
          scopes: body.scopes,
          audiences: body.audiences,
          maxTokenTtl: body.max_token_ttl,
          // The schema demands a method unless workload identities are given, whose assertions are private_key_jwt.
          tokenEndpointAuthMethod: body.token_endpoint_auth_method ?? 'private_key_jwt',
          jwks: body.jwks,
          redirectUris: body.redirect_uris,
          workloadIdentities: body.workload_identities,
          remoteClientIds: body.remote_client_ids,
        };
        await checkClientMetadata({
          id: 'validation',
          name: input.name,
          tokenEndpointAuthMethod: input.tokenEndpointAuthMethod,
          jwks: input.jwks ?? null,
          redirectUris: input.redirectUris ?? [],
          workloadIdentities: input.workloadIdentities ?? [],
        });
        return s.prisma.$transaction(async (tx) => {
          const { agent, clientSecret } = await s.agents.create(input, tx);
          await recordAuditEvent(
            tx,
            adminEvent(actor, 'agent.created', {
              agentId: agent.id,
              userId: agent.ownerUserId ?? undefined,
              details: {
                name: agent.name,
                scopes: agent.scopes,
                audiences: agent.audiences,
                token_endpoint_auth_method: agent.tokenEndpointAuthMethod,
                ...(agent.workloadIdentities.length > 0 ? { workload_identities: agent.workloadIdentities } : {}),
              },
            }),
          );
          return { ...agentView(agent), ...(clientSecret ? { client_secret: clientSecret } : {}) };
        });
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/agents',
      operationId: 'listAgents',
      tag: TAG,
      summary: 'List agents',
      query: agentListQuery,
      response: listOf(agentSchema),
      handle: async ({ query }) => {
        const page = await s.agents.list({
          limit: query.limit,
          cursor: decodeCursor('agents', query.cursor, AGENT_ID),
          ownerUserId: query.owner_user_id,
          status: query.status,
          origin: query.origin,
        });
        return { items: page.items.map(agentView), next_cursor: encodeCursor('agents', page.nextCursor) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/agents/{id}',
      operationId: 'getAgent',
      tag: TAG,
      summary: 'One agent',
      response: agentSchema,
      errors: [404],
      handle: async ({ params }) => agentView(await s.agents.get(params.id!)),
    }),
    defineRoute({
      method: 'PATCH',
      path: '/agents/{id}',
      operationId: 'updateAgent',
      tag: TAG,
      summary: 'Change an agent',
      description:
        'A narrower ceiling or fewer audiences apply from the next token request; tokens already issued live out their (minutes-long) lifetime unless revoked. token_endpoint_auth_method cannot change. workload_identities and remote_client_ids replace the stored lists; removing every workload identity needs jwks in the same request, and jwks: null drops the agent’s own keys when it gets workload identities.',
      body: agentUpdateSchema,
      response: agentSchema,
      errors: [404, 409],
      handle: async ({ params, body, actor }) => {
        const current = await s.agents.get(params.id!);
        await s.trustedIssuers.checkLinks(body.workload_identities ?? [], 'workload', 'workload_identities');
        if (body.jwks !== undefined || body.redirect_uris !== undefined || body.name !== undefined || body.workload_identities !== undefined) {
          await checkClientMetadata({
            ...current,
            name: body.name ?? current.name,
            jwks: body.jwks === undefined ? current.jwks : body.jwks,
            redirectUris: body.redirect_uris ?? current.redirectUris,
            workloadIdentities: body.workload_identities ?? current.workloadIdentities,
          });
        }
        return s.prisma.$transaction(async (tx) => {
          const agent = await s.agents.update(
            current.id,
            {
              name: body.name,
              description: body.description,
              ownerUserId: body.owner_user_id,
              scopes: body.scopes,
              audiences: body.audiences,
              maxTokenTtl: body.max_token_ttl,
              jwks: body.jwks,
              redirectUris: body.redirect_uris,
              workloadIdentities: body.workload_identities,
              remoteClientIds: body.remote_client_ids,
            },
            tx,
          );
          const fields = Object.keys(body).filter((key) => body[key as keyof typeof body] !== undefined);
          await recordAuditEvent(tx, adminEvent(actor, 'agent.updated', { agentId: agent.id, userId: agent.ownerUserId ?? undefined, details: { fields } }));
          return agentView(agent);
        });
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/agents/{id}/secret',
      operationId: 'rotateAgentSecret',
      tag: TAG,
      summary: 'Rotate the agent’s client secret: the new one is shown once, the old one stops working at once',
      status: 200,
      response: agentSecretSchema,
      errors: [404, 409],
      handle: ({ params, actor }) =>
        s.prisma.$transaction(async (tx) => {
          const agent = await s.agents.get(params.id!);
          const clientSecret = await s.agents.rotateSecret(agent.id, tx);
          await recordAuditEvent(tx, adminEvent(actor, 'agent.secret_rotated', { agentId: agent.id, userId: agent.ownerUserId ?? undefined }));
          return { id: agent.id, client_secret: clientSecret };
        }),
    }),
    defineRoute({
      method: 'POST',
      path: '/agents/{id}/suspend',
      operationId: 'suspendAgent',
      tag: TAG,
      summary: 'Kill switch: revoke every live token of the agent, mark its approvals revoked, refuse it until activated',
      response: revokedCountSchema,
      errors: [404],
      handle: ({ params, actor }) => s.revocation.suspendAgent(params.id!, actor),
    }),
    defineRoute({
      method: 'POST',
      path: '/agents/{id}/activate',
      operationId: 'activateAgent',
      tag: TAG,
      summary: 'Lift the kill switch; no approval comes back (the human approves again)',
      response: agentSchema,
      errors: [404, 409],
      handle: async ({ params, actor }) => {
        await s.revocation.activateAgent(params.id!, actor);
        return agentView(await s.agents.get(params.id!));
      },
    }),
  ];
}
