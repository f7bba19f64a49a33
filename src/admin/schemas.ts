// The admin API's request and response bodies as zod schemas: the edge validates with them and the OpenAPI
// document (src/admin/openapi.ts) is generated from them, so the two cannot drift apart. Field names are snake_case;
// request objects are strict (an unknown field is an error, not silently ignored); dates are ISO 8601 strings.
import { z } from 'zod';
import { AGENT_AUTH_METHODS } from '../agents/agent-store.js';
import { AGENT_ID } from './http.js';
import { APP_GRANT_TYPES, APPLICATION_TYPES, AUTH_METHODS } from '../clients/client-store.js';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../humans/passwords.js';
import { isShownText, SHOWN_TEXT_RULE } from '../text/shown-text.js';
import { TRUSTED_ISSUER_PURPOSES } from '../federation/trusted-issuer-store.js';
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

/** An issuer identifier (RFC 8414 §2): an absolute http(s) URL without query or fragment, compared as spelt. */
const issuerIdentifier = z
  .url({ protocol: /^https?$/, error: 'an absolute http(s) URL' })
  .max(2000)
  .refine((value) => !value.includes('#') && !value.includes('?'), 'an issuer identifier has no query or fragment (RFC 8414 §2)');

/** Links to accounts at trusted issuers: `{issuer, subject}` pairs, each once; a list given replaces the stored one. */
function identityLinks(description: string) {
  return z
    .array(z.strictObject({ issuer: z.string().min(1).max(2000).meta({ description: 'a trusted issuer, as its iss claim spells it' }), subject: z.string().min(1).max(512).meta({ description: 'the sub claim it asserts' }) }))
    .max(50)
    .refine((list) => new Set(list.map((link) => JSON.stringify([link.issuer, link.subject]))).size === list.length, 'each (issuer, subject) pair may appear once')
    .meta({ description });
}
const identityLinkView = z.array(z.object({ issuer: z.string(), subject: z.string() }));

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
  external_identities: identityLinkView.meta({ description: "the human's accounts at trusted issuers (purpose id_jag)" }),
  created_at: date,
});

const externalIdentities = identityLinks(
  "the human's accounts at trusted issuers with purpose id_jag: an ID-JAG's sub maps to this human only through one (never by e-mail); a pair linked to another human is a conflict (409)",
);

export const userCreateSchema = z.strictObject({
  username: z.string().min(1).max(128).meta({ description: 'a-z, 0-9, ".", "_", "@", "-"; compared case-insensitively' }),
  password,
  display_name: displayName.optional(),
  external_identities: externalIdentities.optional(),
});

export const userUpdateSchema = z
  .strictObject({
    display_name: displayName.nullable().optional(),
    password: password.optional(),
    status: userStatus.optional().meta({ description: 'disabled: refused at login, and every approval and token of the human is revoked' }),
    external_identities: externalIdentities.optional().meta({ description: 'replaces the stored list ([] removes every link)' }),
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

const authorizationServer = issuerIdentifier.meta({
  description: 'a remote resource: the issuer of the authorization server that serves it; no token for it is issued here, agents get an ID-JAG for that server instead',
});

export const resourceSchema = z.object({
  id,
  identifier: z.string().meta({ description: 'the resource / aud URI; immutable' }),
  name: z.string(),
  scopes: z.array(z.object({ name: z.string(), description: z.string(), requires_approval: z.boolean() })),
  access_token_ttl: z.number().int(),
  allow_dynamic_clients: allowDynamicClients,
  authorization_server: z.string().nullable().meta({ description: 'the issuer of the authorization server of a remote resource; null: served by this server' }),
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
  authorization_server: authorizationServer.nullable().optional(),
});

export const resourceUpdateSchema = z
  .strictObject({
    name: name.optional(),
    scopes: scopes.optional(),
    access_token_ttl: accessTokenTtl.optional(),
    allow_dynamic_clients: allowDynamicClients.optional(),
    authorization_server: authorizationServer.nullable().optional().meta({ description: 'null: served by this server again' }),
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
  workload_identities: identityLinkView.meta({ description: 'platform identities whose assertions authenticate the agent (then its only credential)' }),
  remote_client_ids: z.array(z.object({ authorization_server: z.string(), client_id: z.string() })),
  created_at: date,
  updated_at: date,
});

export const agentCreatedSchema = agentSchema.extend({
  client_secret: z.string().optional().meta({ description: 'for client_secret_basic / client_secret_post: shown once' }),
});

export const agentSecretSchema = z.object({ id: z.string(), client_secret: z.string().meta({ description: 'the new secret, shown once' }) });

const workloadIdentities = identityLinks(
  "the agent's identities at workload platforms (trusted issuers with purpose workload): a client assertion from that issuer with that sub authenticates it, and no secret or key of its own is accepted; a pair linked to another agent is a conflict (409)",
);

const remoteClientIds = z
  .array(z.strictObject({ authorization_server: issuerIdentifier.meta({ description: 'the issuer of the other authorization server' }), client_id: z.string().min(1).max(2048) }))
  .max(20)
  .refine((list) => new Set(list.map((entry) => entry.authorization_server)).size === list.length, 'one client_id per authorization_server')
  .meta({ description: "the agent's client ids at other authorization servers, named in the ID-JAGs issued here for them" });

export const agentCreateSchema = z
  .strictObject({
    name: agentName,
    description: z.string().max(2000).optional(),
    owner_user_id: id.meta({ description: 'the human responsible for the agent' }),
    scopes: scopeNames,
    audiences,
    max_token_ttl: z.number().int().min(30).optional().meta({ description: 'seconds; capped by the server configuration' }),
    token_endpoint_auth_method: z
      .enum(AGENT_AUTH_METHODS)
      .optional()
      .meta({ description: 'required unless workload_identities are given (then private_key_jwt, the default: assertions signed by the platform)' }),
    jwks: jwks.optional(),
    redirect_uris: z.array(redirectUri).max(20).optional().meta({ description: 'for agents that run the authorization code flow' }),
    workload_identities: workloadIdentities.optional(),
    remote_client_ids: remoteClientIds.optional(),
  })
  .superRefine((body, ctx) => {
    if (body.token_endpoint_auth_method === undefined && !body.workload_identities?.length) {
      ctx.addIssue({ code: 'custom', path: ['token_endpoint_auth_method'], message: 'required unless workload_identities are given' });
    }
  })
  .meta({ anyOf: [{ required: ['token_endpoint_auth_method'] }, { required: ['workload_identities'] }] });

export const agentUpdateSchema = z
  .strictObject({
    name: agentName.optional(),
    description: z.string().max(2000).optional(),
    owner_user_id: id.optional(),
    scopes: scopeNames.optional(),
    audiences: audiences.optional(),
    max_token_ttl: z.number().int().min(30).optional(),
    jwks: jwks.nullable().optional().meta({ description: 'null: drop the agent’s own keys, only together with workload_identities' }),
    redirect_uris: z.array(redirectUri).max(20).optional(),
    workload_identities: workloadIdentities.optional().meta({
      description: 'replaces the stored list; only for private_key_jwt agents. [] leaves the agent no credential unless jwks is given in the same request (400 otherwise)',
    }),
    remote_client_ids: remoteClientIds.optional().meta({ description: 'replaces the stored list' }),
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

// ---- trusted issuers (workload identity federation, ID-JAG) ----

const trustedIssuerPurposes = z
  .array(z.enum(TRUSTED_ISSUER_PURPOSES))
  .min(1)
  .max(TRUSTED_ISSUER_PURPOSES.length)
  .refine((list) => new Set(list).size === list.length, 'purposes must be unique')
  .meta({ description: "workload: agents' client assertions from their platform (workload_identities); id_jag: ID-JAGs from an identity provider (jwt-bearer grant, humans' external_identities)" });
const issuerJwks = jwks.meta({ description: "the issuer's public keys, inline" });
const jwksUri = z
  .url({ protocol: /^https$/, error: 'an https URL' })
  .max(2000)
  .refine((value) => !value.includes('#'), 'a jwks_uri has no fragment')
  .meta({ description: 'https, fetched and cached; a loopback host only with AGENTAUTH_CIMD_ALLOW_LOOPBACK=true (development and tests)' });
const allowedClients = z
  .array(z.string().min(1).max(2048))
  .min(1)
  .max(100)
  .meta({ description: 'ids of registered clients (apps or agents) that may use its assertions; null: any client' });
const allowedResources = z
  .array(z.string().min(1).max(2000))
  .min(1)
  .max(50)
  .meta({ description: 'identifiers of registered resources its ID-JAGs may be redeemed for (stored canonical); null: any' });

/** An issuer has exactly one key source: inline keys or a jwks_uri. */
function oneKeySource(body: { jwks?: unknown; jwks_uri?: unknown }, ctx: z.RefinementCtx, required: boolean) {
  const given = [body.jwks, body.jwks_uri].filter((value) => value !== undefined).length;
  if (given > 1 || (required && given === 0)) {
    ctx.addIssue({ code: 'custom', path: [body.jwks === undefined ? 'jwks_uri' : 'jwks'], message: 'give exactly one of jwks (inline public keys) and jwks_uri' });
  }
}

export const trustedIssuerSchema = z.object({
  id,
  issuer: z.string().meta({ description: 'the iss its tokens carry; immutable' }),
  name: z.string(),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).nullable(),
  jwks_uri: z.string().nullable(),
  purposes: z.array(z.enum(TRUSTED_ISSUER_PURPOSES)),
  allowed_clients: z.array(z.string()).nullable().meta({ description: 'null: any client' }),
  allowed_resources: z.array(z.string()).nullable().meta({ description: 'null: any registered resource' }),
  created_at: date,
  updated_at: date,
});

export const trustedIssuerCreateSchema = z
  .strictObject({
    issuer: issuerIdentifier.meta({ description: "the issuer's identifier exactly as its tokens' iss spells it; unique" }),
    name: z.string().trim().max(200).optional(),
    jwks: issuerJwks.optional(),
    jwks_uri: jwksUri.optional(),
    purposes: trustedIssuerPurposes,
    allowed_clients: allowedClients.nullable().optional(),
    allowed_resources: allowedResources.nullable().optional(),
  })
  .superRefine((body, ctx) => oneKeySource(body, ctx, true))
  .meta({ description: 'exactly one of jwks and jwks_uri' });

export const trustedIssuerUpdateSchema = z
  .strictObject({
    name: z.string().trim().max(200).optional(),
    jwks: issuerJwks.optional().meta({ description: 'replaces the key source (a jwks_uri is dropped)' }),
    jwks_uri: jwksUri.optional().meta({ description: 'replaces the key source (inline keys are dropped)' }),
    purposes: trustedIssuerPurposes.optional(),
    allowed_clients: allowedClients.nullable().optional(),
    allowed_resources: allowedResources.nullable().optional(),
  })
  .refine((changes) => Object.values(changes).some((value) => value !== undefined), { message: 'name at least one field to change' })
  .superRefine((body, ctx) => oneKeySource(body, ctx, false));

export const trustedIssuerListQuery = z.strictObject({ ...pageQuery });

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
