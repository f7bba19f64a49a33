// How domain records look in the admin API: snake_case fields, ISO 8601 dates, 64-bit sequence numbers as strings,
// and nothing secret (hashes, grant ids) ever. Each view's type is the input type of its response schema.
import type { z } from 'zod';
import type { Agent } from '../agents/agent-store.js';
import { approvalState, type Approval } from '../approvals/approval-store.js';
import type { App } from '../clients/client-store.js';
import type { IdentityLink, TrustedIssuer } from '../federation/trusted-issuer-store.js';
import type { User } from '../humans/user-store.js';
import type { Resource } from '../resources/resource-store.js';
import type { AdminKey } from './admin-keys.js';
import type { AuditEventRecord } from './audit-events.js';
import type { IssuedTokenRecord } from './issued-tokens.js';
import type {
  adminKeySchema,
  agentSchema,
  appSchema,
  approvalSchema,
  auditEventSchema,
  issuedTokenDetailSchema,
  issuedTokenSchema,
  resourceSchema,
  trustedIssuerSchema,
  userSchema,
} from './schemas.js';

const iso = (date: Date) => date.toISOString();
const isoOrNull = (date: Date | null) => (date ? date.toISOString() : null);

export function adminKeyView(key: AdminKey): z.input<typeof adminKeySchema> {
  return {
    id: key.id,
    name: key.name,
    role: key.role,
    created_by: key.createdBy,
    created_at: iso(key.createdAt),
    last_used_at: isoOrNull(key.lastUsedAt),
    revoked_at: isoOrNull(key.revokedAt),
  };
}

export function userView(user: User, externalIdentities: IdentityLink[]): z.input<typeof userSchema> {
  return {
    id: user.id,
    username: user.username,
    display_name: user.displayName,
    status: user.status,
    external_identities: externalIdentities,
    created_at: iso(user.createdAt),
  };
}

export function resourceView(resource: Resource): z.input<typeof resourceSchema> {
  return {
    id: resource.id,
    identifier: resource.identifier,
    name: resource.name,
    scopes: resource.scopes.map((scope) => ({ name: scope.name, description: scope.description, requires_approval: scope.requires_approval })),
    access_token_ttl: resource.accessTokenTtl,
    allow_dynamic_clients: resource.allowDynamicClients,
    authorization_server: resource.authorizationServer,
  };
}

export function agentView(agent: Agent): z.input<typeof agentSchema> {
  return {
    id: agent.id,
    name: agent.name,
    description: agent.description,
    owner_user_id: agent.ownerUserId,
    origin: agent.origin,
    status: agent.status,
    scopes: agent.scopes,
    audiences: agent.audiences,
    max_token_ttl: agent.maxTokenTtl,
    token_endpoint_auth_method: agent.tokenEndpointAuthMethod,
    jwks: agent.jwks as z.input<typeof agentSchema>['jwks'],
    redirect_uris: agent.redirectUris,
    suspended_at: isoOrNull(agent.suspendedAt),
    first_used_at: isoOrNull(agent.firstUsedAt),
    last_used_at: isoOrNull(agent.lastUsedAt),
    approved_by: agent.approvedBy,
    workload_identities: agent.workloadIdentities,
    remote_client_ids: agent.remoteClientIds,
    created_at: iso(agent.createdAt),
    updated_at: iso(agent.updatedAt),
  };
}

/** Empty allow-lists are stored for "any" and shown as null, as they are written. */
export function trustedIssuerView(issuer: TrustedIssuer): z.input<typeof trustedIssuerSchema> {
  return {
    id: issuer.id,
    issuer: issuer.issuer,
    name: issuer.name,
    jwks: issuer.jwks as z.input<typeof trustedIssuerSchema>['jwks'],
    jwks_uri: issuer.jwksUri,
    purposes: issuer.purposes,
    allowed_clients: issuer.allowedClients.length > 0 ? issuer.allowedClients : null,
    allowed_resources: issuer.allowedResources.length > 0 ? issuer.allowedResources : null,
    created_at: iso(issuer.createdAt),
    updated_at: iso(issuer.updatedAt),
  };
}

export function appView(app: App): z.input<typeof appSchema> {
  return {
    id: app.id,
    client_id: app.id,
    name: app.name,
    redirect_uris: app.redirectUris,
    post_logout_redirect_uris: app.postLogoutRedirectUris,
    grant_types: app.grantTypes,
    token_endpoint_auth_method: app.authMethod,
    application_type: app.applicationType,
    jwks: app.jwks as z.input<typeof appSchema>['jwks'],
    resources: app.resources,
    scopes: app.scopes,
    resource_server: app.resourceServer,
    dpop_bound_access_tokens: app.dpopBoundAccessTokens,
    created_at: iso(app.createdAt),
    updated_at: iso(app.updatedAt),
  };
}

export function approvalView(approval: Approval, now = new Date()): z.input<typeof approvalSchema> {
  return {
    id: approval.id,
    user_id: approval.userId,
    agent_id: approval.agentId,
    scopes: approval.scopes,
    resources: approval.resources,
    expires_at: iso(approval.expiresAt),
    status: approvalState(approval, now),
    granted_via: approval.grantedVia,
    issuer: approval.issuer,
    created_at: iso(approval.createdAt),
    revoked_at: isoOrNull(approval.revokedAt),
    revoked_reason: approval.revokedReason,
  };
}

export function issuedTokenView(token: IssuedTokenRecord): z.input<typeof issuedTokenSchema> {
  return {
    jti: token.jti,
    kind: token.kind,
    format: token.format,
    parent_jti: token.parentJti,
    subject: token.subject,
    subject_kind: token.subjectKind,
    actor_chain: token.actorChain as Array<{ sub: string; kind: string }>,
    client_id: token.clientId,
    scopes: token.scopes,
    audience: token.audience,
    resource: token.resource,
    grant_type: token.grantType,
    approval_id: token.approvalId,
    issued_at: iso(token.issuedAt),
    expires_at: iso(token.expiresAt),
    revoked_at: isoOrNull(token.revokedAt),
    revocation_reason: token.revocationReason,
  };
}

export function issuedTokenDetailView(token: IssuedTokenRecord): z.input<typeof issuedTokenDetailSchema> {
  return { ...issuedTokenView(token), decision: (token.decision as z.input<typeof issuedTokenDetailSchema>['decision']) ?? null };
}

export function auditEventView(event: AuditEventRecord): z.input<typeof auditEventSchema> {
  return {
    seq: event.seq.toString(),
    id: event.id,
    occurred_at: iso(event.occurredAt),
    action: event.action,
    outcome: event.outcome,
    actor_type: event.actorKind,
    actor_id: event.actorId,
    user_id: event.userId,
    agent_id: event.agentId,
    actor_chain: event.actorChain,
    client_id: event.clientId,
    request_id: event.requestId,
    ip: event.ip,
    details: event.details as Record<string, unknown>,
  };
}
