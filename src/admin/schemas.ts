// The admin API's request and response bodies as zod schemas: the edge validates with them and the OpenAPI
// document (src/admin/openapi.ts) is generated from them, so the two cannot drift apart. Field names are snake_case;
// request objects are strict (an unknown field is an error, not silently ignored); dates are ISO 8601 strings.
import { z } from 'zod';
import { AGENT_AUTH_METHODS } from '../agents/agent-store.js';
import { AGENT_ID } from './http.js';
import { APP_GRANT_TYPES, APPLICATION_TYPES, AUTH_METHODS } from '../clients/client-store.js';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../humans/passwords.js';
import { isShownText, SHOWN_TEXT_RULE } from '../text/shown-text.js';
import { MAX_ACCESS_TOKEN_TTL, scopeSchema } from '../resources/resource-store.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

const id = z.guid();
const date = z.iso.datetime();
const nullableDate = date.nullable();
const name = z.string().trim().min(1).max(200);
/** An agent's name is shown to humans deciding whether to trust it: the rule for text shown as it is. */
const agentName = name.refine(isShownText, SHOWN_TEXT_RULE);

// ---- errors and lists ----

export const errorSchema = z.object({
  error: z.string().meta({ description: 'invalid_request | unauthorized | forbidden | not_found | method_not_allowed | conflict | server_error | service_unavailable (503, the database is unreachable: retry after Retry-After)' }),
  message: z.string(),
  details: z
    .array(z.object({ path: z.string().meta({ description: 'dotted path of the field, e.g. scopes.0' }), message: z.string() }))
    .optional(),
});

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE).meta({ description: `page size, at most ${MAX_PAGE_SIZE}` }),
  cursor: z.string().max(512).optional().meta({ description: 'next_cursor of the previous page' }),
};

export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() });
}

export const revokedCountSchema = z.object({ revoked: z.number().int().min(0).meta({ description: 'tokens newly revoked by this call' }) });

// ---- admin keys ----

export const adminRoles = ['admin', 'auditor'] as const;

export const adminKeySchema = z.object({
  id,
  name: z.string(),
  role: z.enum(adminRoles),
  created_by: z.string().nullable().meta({ description: 'the admin key that created it; null for the bootstrap key and the CLI' }),
  created_at: date,
  last_used_at: nullableDate.meta({ description: 'updated at most once a minute' }),
  revoked_at: nullableDate,
});

export const adminKeyCreatedSchema = adminKeySchema.extend({
  key: z.string().meta({ description: 'the admin key (aa_ak_...): shown once, never retrievable again' }),
});

export const adminKeyCreateSchema = z.strictObject({
  name,
  role: z.enum(adminRoles).meta({ description: 'admin: read and write; auditor: read only' }),
});

// ---- users (humans) ----

const userStatus = z.enum(['active', 'disabled']);
const password = z.string().min(MIN_PASSWORD_LENGTH).max(MAX_PASSWORD_LENGTH).meta({ description: 'write-only; stored as an argon2id hash' });
const displayName = z.string().trim().min(1).max(200);

export const userSchema = z.object({
  id,
  username: z.string(),
  display_name: z.string().nullable(),
  status: userStatus,
  created_at: date,
});

export const userCreateSchema = z.strictObject({
  username: z.string().min(1).max(128).meta({ description: 'a-z, 0-9, ".", "_", "@", "-"; compared case-insensitively' }),
  password,
  display_name: displayName.optional(),
});

export const userUpdateSchema = z
  .strictObject({
    display_name: displayName.nullable().optional(),
    password: password.optional(),
    status: userStatus.optional().meta({ description: 'disabled: refused at login, and every approval and token of the human is revoked' }),
  })
  .refine((changes) => Object.values(changes).some((value) => value !== undefined), { message: 'name at least one field to change' });

export const userListQuery = z.strictObject({ ...pageQuery, status: userStatus.optional() });

// ---- resource servers ----

const strictScope = scopeSchema.strict();
const scopes = z
  .array(strictScope)
  .max(200)
  .refine((list) => new Set(list.map((scope) => scope.name)).size === list.length, 'scope names must be unique');
const accessTokenTtl = z.number().int().min(30).max(MAX_ACCESS_TOKEN_TTL).meta({ description: 'seconds' });

const allowDynamicClients = z.boolean().meta({
  description: 'whether clients that arrive by themselves (Client ID Metadata Documents, DCR) may be consented to at this resource; default true',
});

export const resourceSchema = z.object({
  id,
  identifier: z.string().meta({ description: 'the resource / aud URI; immutable' }),
  name: z.string(),
  scopes: z.array(z.object({ name: z.string(), description: z.string(), requires_approval: z.boolean() })),
  access_token_ttl: z.number().int(),
  allow_dynamic_clients: allowDynamicClients,
});

export const resourceCreateSchema = z.strictObject({
  identifier: z
    .url()
    .max(2000)
    .refine((value) => !new URL(value).hash, 'a resource identifier has no fragment (RFC 8707 §2)')
    .meta({ description: 'stored in canonical form: lower-case scheme and host, no default port, no trailing / on the path' }),
  name,
  scopes: scopes.optional(),
  access_token_ttl: accessTokenTtl.optional(),
  allow_dynamic_clients: allowDynamicClients.optional(),
});

export const resourceUpdateSchema = z
  .strictObject({
    name: name.optional(),
    scopes: scopes.optional(),
    access_token_ttl: accessTokenTtl.optional(),
    allow_dynamic_clients: allowDynamicClients.optional(),
  })
  .refine((changes) => Object.values(changes).some((value) => value !== undefined), { message: 'name at least one field to change' });

export const resourceListQuery = z.strictObject({ ...pageQuery });

// ---- agents ----

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

const jwks = z
  .strictObject({ keys: z.array(z.looseObject({ kty: z.string().min(1) })).min(1).max(20) })
  .superRefine((set, ctx) => {
    set.keys.forEach((key, i) => {
      for (const member of PRIVATE_JWK_MEMBERS) {
        if (member in key) ctx.addIssue({ code: 'custom', path: ['keys', i, member], message: 'public keys only: a JWKS here must not carry private or symmetric key material' });
      }
    });
  })
  .meta({ description: "the agent's public keys, for private_key_jwt" });

const redirectUri = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .refine((value) => !new URL(value).hash, 'a redirect URI has no fragment');
const scopeNames = z.array(z.string().min(1).max(128)).max(200);
const audiences = z.array(z.string().min(1).max(2000)).max(50).meta({ description: 'identifiers of registered resource servers' });
const agentStatus = z.enum(['active', 'suspended']);
const agentId = z.string().regex(AGENT_ID).meta({ description: 'an agent id: a UUID, or the metadata document URL of an agent that arrived by itself' });
const agentOrigin = z.enum(['admin', 'cimd', 'dcr']).meta({
  description: 'admin: registered by an administrator; cimd: arrived with a Client ID Metadata Document (its id is the document URL); dcr: registered itself (RFC 7591)',
});

export const agentSchema = z.object({
  id: z.string().meta({ description: 'also the OAuth client_id' }),
  name: z.string(),
  description: z.string(),
  owner_user_id: id.nullable().meta({ description: 'null for agents that arrived by themselves (origin cimd or dcr)' }),
  origin: agentOrigin,
  status: agentStatus,
  scopes: z.array(z.string()).meta({ description: 'the scope ceiling: no token of this agent carries a scope outside it' }),
  audiences: z.array(z.string()),
  max_token_ttl: z.number().int(),
  token_endpoint_auth_method: z.enum([...AGENT_AUTH_METHODS, 'none']).meta({ description: 'none: a public client (agents that arrived by themselves)' }),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).nullable(),
  redirect_uris: z.array(z.string()),
  suspended_at: nullableDate,
  first_used_at: nullableDate.meta({ description: 'agents that arrived by themselves: first use' }),
  last_used_at: nullableDate.meta({ description: 'agents that arrived by themselves: latest use (updated at most once a minute)' }),
  approved_by: z.array(id).meta({ description: 'the humans who approved this agent (any approval, active or not)' }),
  created_at: date,
  updated_at: date,
});

export const agentCreatedSchema = agentSchema.extend({
  client_secret: z.string().optional().meta({ description: 'for client_secret_basic / client_secret_post: shown once' }),
});

export const agentSecretSchema = z.object({ id: z.string(), client_secret: z.string().meta({ description: 'the new secret, shown once' }) });

export const agentCreateSchema = z.strictObject({
  name: agentName,
  description: z.string().max(2000).optional(),
  owner_user_id: id.meta({ description: 'the human responsible for the agent' }),
  scopes: scopeNames,
  audiences,
  max_token_ttl: z.number().int().min(30).optional().meta({ description: 'seconds; capped by the server configuration' }),
  token_endpoint_auth_method: z.enum(AGENT_AUTH_METHODS),
  jwks: jwks.optional(),
  redirect_uris: z.array(redirectUri).max(20).optional().meta({ description: 'for agents that run the authorization code flow' }),
});

export const agentUpdateSchema = z
  .strictObject({
    name: agentName.optional(),
    description: z.string().max(2000).optional(),
    owner_user_id: id.optional(),
    scopes: scopeNames.optional(),
    audiences: audiences.optional(),
    max_token_ttl: z.number().int().min(30).optional(),
    jwks: jwks.optional(),
    redirect_uris: z.array(redirectUri).max(20).optional(),
  })
  .refine((changes) => Object.values(changes).some((value) => value !== undefined), { message: 'name at least one field to change' });

export const agentListQuery = z.strictObject({ ...pageQuery, owner_user_id: id.optional(), status: agentStatus.optional(), origin: agentOrigin.optional() });

// ---- apps (OAuth clients that are not agents) ----

// Native apps may use custom schemes (RFC 8252); oidc-provider checks each URI against application_type. Schemes
// that run or read something in the browser are never a redirect target.
const appRedirectUri = z
  .url()
  .max(2000)
  .refine((value) => !new URL(value).hash, 'a redirect URI has no fragment')
  .refine((value) => !['javascript:', 'data:', 'vbscript:', 'file:', 'blob:'].includes(new URL(value).protocol), 'not a redirect URI scheme');
const appRedirectUris = z.array(appRedirectUri).max(20);
const appGrantTypes = z
  .array(z.enum(APP_GRANT_TYPES))
  .max(APP_GRANT_TYPES.length)
  .refine((list) => new Set(list).size === list.length, 'grant types must be unique');
const appResources = z
  .array(z.string().min(1).max(2000))
  .max(50)
  .meta({ description: 'identifiers of registered resource servers this app may get access tokens for; none: no access token for any resource (deny by default)' });
const appScopes = scopeNames.meta({ description: 'the scope ceiling: each defined by one of resources; no token of this app carries a resource scope outside it' });
const resourceServerField = z
  .string()
  .min(1)
  .max(2000)
  .meta({ description: "for a resource server's own client: the registered resource identifier whose tokens it may introspect" });
const appJwks = jwks.meta({ description: "the app's public keys, for private_key_jwt" });

export const appSchema = z.object({
  id: z.string().meta({ description: 'the OAuth client_id' }),
  client_id: z.string(),
  name: z.string(),
  redirect_uris: z.array(z.string()),
  post_logout_redirect_uris: z.array(z.string()),
  grant_types: z.array(z.string()),
  token_endpoint_auth_method: z.enum(AUTH_METHODS),
  application_type: z.enum(APPLICATION_TYPES),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).nullable(),
  resources: z.array(z.string()),
  scopes: z.array(z.string()),
  resource_server: z.string().nullable(),
  dpop_bound_access_tokens: z.boolean(),
  created_at: date,
  updated_at: date,
});

export const appCreatedSchema = appSchema.extend({
  client_secret: z.string().optional().meta({ description: 'for client_secret_basic / client_secret_post: shown once' }),
});

export const appSecretSchema = z.object({ id: z.string(), client_secret: z.string().meta({ description: 'the new secret, shown once' }) });

export const appCreateSchema = z.strictObject({
  name,
  redirect_uris: appRedirectUris.optional().meta({ description: 'needed for authorization_code' }),
  post_logout_redirect_uris: appRedirectUris.optional(),
  grant_types: appGrantTypes
    .optional()
    .meta({ description: 'default: authorization_code and refresh_token when redirect_uris are given, else client_credentials' }),
  token_endpoint_auth_method: z.enum(AUTH_METHODS).optional().meta({ description: 'default client_secret_basic; none: a public client (code flow with PKCE only)' }),
  jwks: appJwks.optional(),
  application_type: z.enum(APPLICATION_TYPES).optional().meta({ description: 'default web; native: custom-scheme and loopback redirect URIs (RFC 8252)' }),
  resources: appResources.optional(),
  scopes: appScopes.optional(),
  resource_server: resourceServerField.optional(),
  dpop_bound_access_tokens: z.boolean().optional().meta({ description: 'its access tokens must be DPoP-bound (RFC 9449)' }),
});

export const appUpdateSchema = z
  .strictObject({
    name: name.optional(),
    redirect_uris: appRedirectUris.optional(),
    post_logout_redirect_uris: appRedirectUris.optional(),
    grant_types: appGrantTypes.optional(),
    jwks: appJwks.optional(),
    application_type: z.enum(APPLICATION_TYPES).optional(),
    resources: appResources.optional(),
    scopes: appScopes.optional(),
    resource_server: resourceServerField.nullable().optional().meta({ description: 'null: no longer a resource server\'s client' }),
    dpop_bound_access_tokens: z.boolean().optional(),
  })
  .refine((changes) => Object.values(changes).some((value) => value !== undefined), { message: 'name at least one field to change' });

export const appListQuery = z.strictObject({ ...pageQuery });

// ---- approvals ----

const approvalStatus = z.enum(['active', 'revoked', 'expired']);

export const approvalSchema = z.object({
  id,
  user_id: id,
  agent_id: z.string(),
  scopes: z.array(z.string()),
  resources: z.array(z.string()),
  expires_at: date,
  status: approvalStatus,
  granted_via: z.enum(['consent', 'ciba', 'admin', 'id_jag']),
  issuer: z.string().nullable().meta({ description: 'the outside issuer that approved for the human (granted_via id_jag)' }),
  created_at: date,
  revoked_at: nullableDate,
  revoked_reason: z.string().nullable(),
});

export const approvalCreateSchema = z.strictObject({
  user_id: id,
  agent_id: id,
  scopes: z.array(z.string().min(1).max(128)).min(1).max(200),
  resources: z.array(z.string().min(1).max(2000)).min(1).max(50),
  expires_at: z.iso.datetime({ offset: true }).optional().meta({ description: 'default: the configured approval lifetime' }),
});

export const approvalRevokedSchema = z.object({ revoked: z.number().int().min(0), approval: approvalSchema });

export const approvalListQuery = z.strictObject({ ...pageQuery, user_id: id.optional(), agent_id: agentId.optional(), status: approvalStatus.optional() });

// ---- issued tokens ----

export const issuedTokenSchema = z.object({
  jti: z.string(),
  kind: z.enum(['access_token', 'refresh_token', 'id_jag']),
  format: z.string().meta({ description: 'jwt | opaque (for opaque tokens the jti is the keyed hash of the token)' }),
  parent_jti: z.string().nullable(),
  subject: z.string(),
  subject_kind: z.enum(['human', 'agent', 'app']),
  actor_chain: z.array(z.object({ sub: z.string(), kind: z.string() })).meta({ description: 'current actor first' }),
  client_id: z.string(),
  scopes: z.array(z.string()),
  audience: z.string().nullable(),
  resource: z.string().nullable(),
  grant_type: z.string(),
  approval_id: z.string().nullable(),
  issued_at: date,
  expires_at: date,
  revoked_at: nullableDate,
  revocation_reason: z.string().nullable(),
});

const trailEntry = z.object({
  limit: z.string().meta({ description: 'the limit that applied: resource, ceiling:<client>, approval, consent, subject_token, approval_only, lifetime, ...' }),
  detail: z.string(),
  removed: z.array(z.string()).optional().meta({ description: 'scopes this limit removed' }),
  seconds: z.number().int().optional().meta({ description: 'the lifetime this limit set' }),
});

export const issuedTokenDetailSchema = issuedTokenSchema
  .extend({ decision: z.array(trailEntry).nullable().meta({ description: "the policy's decision trail: which approval, ceilings and limits shaped this token" }) });

// ---- decisions (dry run of the policy) ----

export const decisionRequestSchema = z
  .strictObject({
    client_id: z.string().min(1).max(2048),
    user_id: id.optional().meta({ description: 'the human the token would be for; absent: the client acting for itself' }),
    resource: z.string().min(1).max(2048).optional().meta({ description: "absent: the client's single allowed resource" }),
    scope: z.string().max(2048).optional().meta({ description: 'space-separated; absent: the most the policy allows' }),
    grant_type: z
      .enum(['client_credentials', 'authorization_code', 'refresh_token', 'urn:openid:params:grant-type:ciba', 'urn:ietf:params:oauth:grant-type:token-exchange'])
      .optional()
      .meta({ description: 'default: token exchange with user_id, client credentials without' }),
  });

export const decisionSchema = z
  .object({
    allowed: z.boolean(),
    scopes: z.array(z.string()),
    lifetime: z.number().int().nullable().meta({ description: 'seconds the token would live' }),
    rule: z.string().optional().meta({ description: 'the rule that refused (README, Policy rules)' }),
    error: z.string().optional().meta({ description: 'the OAuth error the client would get' }),
    description: z.string().optional(),
    trail: z.array(trailEntry),
  });

export const tokenListQuery = z.strictObject({
  ...pageQuery,
  agent_id: z.string().max(200).optional().meta({ description: 'the agent is the client or anywhere in the actor chain' }),
  user_id: z.string().max(200).optional().meta({ description: 'the human the tokens are about (their subject)' }),
  active: z.enum(['true', 'false']).optional().meta({ description: 'true: neither revoked nor expired' }),
});

// ---- revocations ----

export const revocationSchema = z
  .strictObject({
    jti: z.string().min(1).max(512).optional(),
    approval_id: id.optional(),
    agent_id: agentId.optional(),
    user_id: id.optional(),
  })
  .superRefine((target, ctx) => {
    const named = Object.entries(target)
      .filter(([, value]) => value !== undefined)
      .map(([key]) => key)
      .sort()
      .join(',');
    if (!['jti', 'approval_id', 'agent_id', 'user_id', 'agent_id,user_id'].includes(named)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of {jti}, {approval_id}, {agent_id}, {user_id}, {agent_id, user_id}' });
    }
  })
  .meta({
    description: 'exactly one of {jti}, {approval_id}, {agent_id}, {user_id}, {agent_id, user_id}',
    oneOf: [['jti'], ['approval_id'], ['agent_id'], ['user_id'], ['agent_id', 'user_id']].map((required) => ({ required, maxProperties: required.length })),
  });

// ---- audit log ----

export const actorTypes = ['human', 'agent', 'app', 'admin', 'system'] as const;

export const auditEventSchema = z.object({
  seq: z.string().meta({ description: 'position in the log (a 64-bit integer, as a string)' }),
  id,
  occurred_at: date,
  action: z.string(),
  outcome: z.string(),
  actor_type: z.string(),
  actor_id: z.string().nullable(),
  user_id: z.string().nullable(),
  agent_id: z.string().nullable(),
  actor_chain: z.unknown().nullable(),
  client_id: z.string().nullable(),
  request_id: z.string().nullable(),
  ip: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});

export const auditListQuery = z.strictObject({
  ...pageQuery,
  actor_type: z.enum(actorTypes).optional(),
  agent_id: z.string().max(200).optional(),
  user_id: z.string().max(200).optional(),
  action: z.string().max(200).optional().meta({ description: 'exact action name, e.g. agent.created' }),
  since: z.iso.datetime({ offset: true }).optional().meta({ description: 'inclusive' }),
  until: z.iso.datetime({ offset: true }).optional().meta({ description: 'exclusive' }),
});

// ---- client domains (trust policy for clients that arrive by themselves) ----

export const clientDomainSchema = z.object({
  domain: z.string().meta({ description: 'a host name; the rule covers its subdomains' }),
  rule: z.enum(['allow', 'deny']),
  created_at: date,
});

export const clientDomainPutSchema = z.strictObject({
  domain: z.string().min(1).max(253),
  rule: z.enum(['allow', 'deny']).meta({
    description: 'deny: refuse Client ID Metadata Documents (and DCR redirect hosts) under this domain and revoke what its agents hold now; allow: admitted when AGENTAUTH_DYNAMIC_CLIENT_TRUST=allowlist',
  }),
});

export const clientDomainWrittenSchema = clientDomainSchema.extend({
  tokens_revoked: z.number().int().meta({ description: 'tokens of agents under a newly denied domain, revoked at once' }),
  agents_affected: z.array(z.string()),
});
