// OAuth clients in PostgreSQL: every client is read here (findMetadata), apps are also written here (admin API
// /admin/v1/clients, CLI `clients`); agents' clients are written by the agent store. The stored metadata is what
// oidc-provider validates and uses; a generated client secret is kept only as its keyed hash and handed to
// oidc-provider in place of the secret, where `compareClientSecret` compares against it in constant time.
import { randomUUID } from 'node:crypto';
import type { ClientMetadata } from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { InvalidInputError, NotFoundError, type ErrorDetail } from '../errors.js';
import { ceilingProblems } from '../policy/decide.js';
import { toResourceFacts, type ResourceStore } from '../resources/resource-store.js';
import { generateSecret, type SecretHasher } from '../secrets/secret-hasher.js';

/** Scopes of OpenID Connect itself, which every client may ask for alongside resource scopes. */
export const OIDC_SCOPES = ['openid', 'offline_access', 'profile'];
/** The OpenID CIBA grant type (backchannel authentication, poll mode). */
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
/** RFC 7523's jwt-bearer grant, on which agents redeem ID-JAGs (src/oauth/grants/jwt-bearer.ts). */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export const SECRET_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export const KEY_AUTH_METHODS = ['private_key_jwt'] as const;
export const AUTH_METHODS = [...SECRET_AUTH_METHODS, ...KEY_AUTH_METHODS, 'none'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
/** The grants an app may be given (agents get token exchange and CIBA through the agent store). */
export const APP_GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type AppGrantType = (typeof APP_GRANT_TYPES)[number];
export const APPLICATION_TYPES = ['web', 'native'] as const;
export type ApplicationType = (typeof APPLICATION_TYPES)[number];

/**
 * Grant types when none are named: an app with redirect URIs signs humans in (code flow, with refresh); one without
 * acts for itself (client credentials), which also suits a resource server's introspection client: its empty
 * ceilings mint nothing.
 */
export function defaultGrantTypes(redirectUris: string[]): AppGrantType[] {
  return redirectUris.length > 0 ? ['authorization_code', 'refresh_token'] : ['client_credentials'];
}

export type NewApp = {
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  grantTypes: string[];
  authMethod: AuthMethod;
  /** OpenID Connect's `application_type`: `native` allows custom-scheme and loopback redirect URIs. Default web. */
  applicationType?: ApplicationType | undefined;
  jwks?: { keys: unknown[] } | undefined;
  /** The app's scope ceiling at its resources; none: no resource scope at all (deny by default). */
  scopes?: string[];
  /** Resource identifiers the app may get access tokens for; none: no access token for any resource. */
  resources?: string[];
  dpopBoundAccessTokens?: boolean;
  /** For a resource server's own client: the resource identifier whose tokens it may introspect. */
  resourceServer?: string | undefined;
};

/** An app as the admin API and CLI show it (never its secret or the secret's hash). */
export type App = {
  id: string;
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: string[];
  authMethod: AuthMethod;
  applicationType: ApplicationType;
  jwks: { keys: unknown[] } | null;
  scopes: string[];
  resources: string[];
  resourceServer: string | null;
  dpopBoundAccessTokens: boolean;
  createdAt: Date;
  updatedAt: Date;
};

/** What may change on an app; the authentication method may not (a new one would need a new secret or keys). */
export type AppChanges = Partial<Omit<NewApp, 'authMethod' | 'resourceServer'>> & { resourceServer?: string | null | undefined };

/** The OAuth client metadata of an app (without secrets), as oidc-provider validates and uses it. */
export function appClientMetadata(clientId: string, app: NewApp): ClientMetadata {
  return {
    client_id: clientId,
    client_name: app.name,
    principal_kind: 'app',
    application_type: app.applicationType ?? 'web',
    redirect_uris: app.redirectUris,
    post_logout_redirect_uris: app.postLogoutRedirectUris ?? [],
    grant_types: app.grantTypes,
    response_types: app.grantTypes.includes('authorization_code') ? ['code'] : [],
    token_endpoint_auth_method: app.authMethod,
    ...(app.jwks ? { jwks: app.jwks as ClientMetadata['jwks'] } : {}),
    ...(app.dpopBoundAccessTokens ? { dpop_bound_access_tokens: true } : {}),
    ...(app.resourceServer ? { resource_server: app.resourceServer } : {}),
  };
}

type AppRow = { id: string; name: string; metadata: Prisma.JsonValue; scopes: string[]; resources: string[]; createdAt: Date; updatedAt: Date };
const appSelect = { id: true, name: true, metadata: true, scopes: true, resources: true, createdAt: true, updatedAt: true } as const;

function toApp(row: AppRow): App {
  const m = row.metadata as ClientMetadata & { resource_server?: string };
  return {
    id: row.id,
    name: row.name,
    redirectUris: (m.redirect_uris as string[] | undefined) ?? [],
    postLogoutRedirectUris: (m.post_logout_redirect_uris as string[] | undefined) ?? [],
    grantTypes: (m.grant_types as string[] | undefined) ?? [],
    authMethod: (m.token_endpoint_auth_method as AuthMethod | undefined) ?? 'client_secret_basic',
    applicationType: m.application_type === 'native' ? 'native' : 'web',
    jwks: (m.jwks as { keys: unknown[] } | undefined) ?? null,
    scopes: row.scopes,
    resources: row.resources,
    resourceServer: m.resource_server ?? null,
    dpopBoundAccessTokens: m.dpop_bound_access_tokens === true,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

const asNewApp = (app: App): NewApp => ({
  name: app.name,
  redirectUris: app.redirectUris,
  postLogoutRedirectUris: app.postLogoutRedirectUris,
  grantTypes: app.grantTypes,
  authMethod: app.authMethod,
  applicationType: app.applicationType,
  jwks: app.jwks ?? undefined,
  scopes: app.scopes,
  resources: app.resources,
  dpopBoundAccessTokens: app.dpopBoundAccessTokens,
  resourceServer: app.resourceServer ?? undefined,
});

type Writer = PrismaClient | Prisma.TransactionClient;

/**
 * Clients by id, each with its agent's live record (status, ceiling, audiences, lifetime): the one read behind
 * `findMetadata` here and the token endpoint's pooled lookup (src/clients/client-lookup-store.ts).
 */
export const FIND_CLIENTS_SQL = `
  SELECT c.id, c.metadata, c.secret_hash, c.scopes, c.resources, a.status::text AS agent_status, a.scopes AS agent_scopes,
         a.audiences AS agent_audiences, a.max_token_ttl AS agent_max_token_ttl
  FROM clients c LEFT JOIN agents a ON a.id = c.id
  WHERE c.id = ANY($1::text[])`;

export type ClientRow = {
  metadata: unknown;
  secret_hash: string | null;
  scopes: string[] | null;
  resources: string[] | null;
  agent_status: string | null;
  agent_scopes: string[] | null;
  agent_audiences: string[] | null;
  agent_max_token_ttl: number | null;
};

/**
 * A client row as oidc-provider metadata. The secret's hash stands in for the secret. Every client's ceilings travel
 * with it to where tokens are decided (`ceiling_scopes`, `allowed_resources`, `max_token_ttl`, read by
 * src/oauth/request-facts.ts): an app's from its own row, an agent's from the live agent record, so a suspended agent
 * is no client at all (it cannot authenticate) and a narrowed ceiling applies at once.
 */
export function clientMetadataFromRow(row: ClientRow): ClientMetadata | undefined {
  let metadata: ClientMetadata = { ...(row.metadata as ClientMetadata), ceiling_scopes: row.scopes ?? [], allowed_resources: row.resources ?? [] };
  if (row.agent_status !== null) {
    if (row.agent_status !== 'active') return undefined;
    metadata = {
      ...metadata,
      ceiling_scopes: row.agent_scopes ?? [],
      allowed_resources: row.agent_audiences ?? [],
      max_token_ttl: row.agent_max_token_ttl,
      // Every agent may ask a human asynchronously (CIBA, poll mode) and redeem an ID-JAG its enterprise IdP issued
      // for it (jwt-bearer): derived here so existing agents get them too.
      grant_types: [...new Set([...(metadata.grant_types ?? []), CIBA_GRANT, JWT_BEARER_GRANT])],
      backchannel_token_delivery_mode: 'poll',
    };
  }
  return runtimeClientMetadata(row.secret_hash ? { ...metadata, client_secret: row.secret_hash } : metadata);
}


/**
 * The credential oidc-provider sees for an agent that authenticates only with its platform's assertions (workload
 * identity federation): never a secret's hash (those are hex HMACs), so no client secret ever matches it. The seam in
 * front of oidc-provider (src/oauth/workload-authentication.ts) verifies the assertion and hands oidc-provider a
 * one-time, in-process credential that `compareClientSecret` accepts for that agent only.
 */
export const WORKLOAD_ONLY_CREDENTIAL = 'workload-federation:assertions-only';

/**
 * An agent with workload identities is stored as `private_key_jwt` without keys of its own (that is what it does:
 * its platform signs its assertions) and flagged `workload_federation`; oidc-provider, whose own private_key_jwt
 * requires iss = sub = client_id, sees it as authenticating with the one-time credential of the seam.
 */
export function runtimeClientMetadata(metadata: ClientMetadata): ClientMetadata {
  if (metadata.workload_federation !== true) return metadata;
  const { jwks: _jwks, jwks_uri: _jwksUri, workload_federation: _flag, ...rest } = metadata;
  return { ...rest, token_endpoint_auth_method: 'client_secret_post', client_secret: WORKLOAD_ONLY_CREDENTIAL };
}

export type CreatedClient = { clientId: string; clientSecret?: string };

const usesSecret = (method: string) => (SECRET_AUTH_METHODS as readonly string[]).includes(method);

export function createClientStore(prisma: PrismaClient, secrets: SecretHasher, resources: ResourceStore) {
  /**
   * Checks what an app refers to: its allowed resources and ceiling (the policy's rule, src/policy/decide.ts), the
   * resource it introspects for, and the keys private_key_jwt needs. Problems name the admin API's fields.
   */
  async function validateApp(app: NewApp): Promise<void> {
    const problems: ErrorDetail[] = [];
    const allowed = [...new Set(app.resources ?? [])];
    const registered = await Promise.all(allowed.map(async (identifier) => {
      const resource = await resources.findByIdentifier(identifier);
      return { identifier, facts: resource ? toResourceFacts(resource) : undefined };
    }));
    problems.push(...ceilingProblems(registered, app.scopes ?? [], { field: 'resources', exempt: OIDC_SCOPES }));
    if (app.resourceServer !== undefined) {
      if (!(await resources.findByIdentifier(app.resourceServer))) {
        problems.push({ path: 'resource_server', message: `${app.resourceServer} is not a registered resource server` });
      } else if (app.authMethod === 'none') {
        problems.push({ path: 'resource_server', message: 'a resource server\'s client must authenticate to introspect: choose a token_endpoint_auth_method other than none' });
      }
    }
    if (app.authMethod === 'private_key_jwt' && !app.jwks?.keys.length) {
      problems.push({ path: 'jwks', message: 'private_key_jwt needs the app\'s public keys (a JWKS)' });
    }
    if (app.grantTypes.includes('authorization_code') && app.redirectUris.length === 0) {
      problems.push({ path: 'redirect_uris', message: 'authorization_code needs at least one redirect URI' });
    }
    if (app.grantTypes.includes('refresh_token') && !app.grantTypes.includes('authorization_code')) {
      problems.push({ path: 'grant_types', message: 'refresh_token comes with authorization_code' });
    }
    if (app.grantTypes.includes('client_credentials') && app.authMethod === 'none') {
      problems.push({ path: 'grant_types', message: 'client_credentials needs a client that authenticates (not none)' });
    }
    if (problems.length > 0) throw new InvalidInputError('the app is not valid', problems);
  }

  async function getApp(clientId: string, reader: Writer = prisma): Promise<App> {
    const row = await reader.client.findFirst({ where: { id: clientId, kind: 'app' }, select: appSelect });
    // Agents are clients too, but managed as agents: under this name they do not exist.
    if (!row) throw new NotFoundError(`no app ${clientId}`);
    return toApp(row);
  }

  /** Replaces the secret; the old one stops working with the next request. Returns the new secret, once. */
  async function rotateSecret(clientId: string, tx: Writer = prisma): Promise<string> {
    const clientSecret = generateSecret('aa_cs');
    await tx.client.update({ where: { id: clientId }, data: { secretHash: secrets.hash(clientSecret) } });
    return clientSecret;
  }

  return {
    validateApp,
    getApp,

    /**
     * Stores an app as given; callers that take outside input run `validateApp` first (the admin API, the CLI).
     * `tx` lets callers commit it together with their own writes (its audit event).
     */
    async createApp(app: NewApp, tx: Writer = prisma): Promise<CreatedClient> {
      const clientId = randomUUID();
      const clientSecret = usesSecret(app.authMethod) ? generateSecret('aa_cs') : undefined;
      await tx.client.create({
        data: {
          id: clientId,
          kind: 'app',
          name: app.name,
          metadata: appClientMetadata(clientId, app) as Prisma.InputJsonValue,
          secretHash: clientSecret ? secrets.hash(clientSecret) : null,
          scopes: [...new Set(app.scopes ?? [])],
          resources: [...new Set(app.resources ?? [])],
        },
      });
      return { clientId, ...(clientSecret ? { clientSecret } : {}) };
    },

    /** A page of apps by id; `cursor` is the id of the last app of the previous page. */
    async listApps(options: { limit: number; cursor?: string | undefined }): Promise<{ items: App[]; nextCursor: string | null }> {
      const rows = await prisma.client.findMany({
        where: { kind: 'app' },
        orderBy: { id: 'asc' },
        take: options.limit + 1,
        ...(options.cursor ? { cursor: { id: options.cursor }, skip: 1 } : {}),
        select: appSelect,
      });
      const items = rows.slice(0, options.limit).map(toApp);
      return { items, nextCursor: rows.length > options.limit ? items.at(-1)!.id : null };
    },

    /** The app after `changes`, checked as a whole, without saving: what the caller validates before `updateApp`. */
    async changedApp(clientId: string, changes: AppChanges): Promise<{ current: App; next: NewApp }> {
      const current = await getApp(clientId);
      const given = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) as AppChanges;
      const { resourceServer, ...rest } = given;
      const next: NewApp = { ...asNewApp(current), ...(rest as Partial<NewApp>) };
      if (resourceServer !== undefined) next.resourceServer = resourceServer ?? undefined;
      return { current, next };
    },

    /** Saves an app changed by `changedApp` (and validated); a narrower ceiling applies from the next request. */
    async updateApp(clientId: string, next: NewApp, tx: Writer = prisma): Promise<App> {
      const row = await tx.client.update({
        where: { id: clientId, kind: 'app' },
        data: {
          name: next.name,
          metadata: appClientMetadata(clientId, next) as Prisma.InputJsonValue,
          scopes: [...new Set(next.scopes ?? [])],
          resources: [...new Set(next.resources ?? [])],
        },
        select: appSelect,
      });
      return toApp(row);
    },

    /** Removes an app; its tokens and grants are the revocation service's (it calls this in its transaction). */
    async deleteApp(clientId: string, tx: Writer = prisma): Promise<void> {
      const { count } = await tx.client.deleteMany({ where: { id: clientId, kind: 'app' } });
      if (count === 0) throw new NotFoundError(`no app ${clientId}`);
    },

    /**
     * The client as oidc-provider takes it, or undefined. The secret's hash stands in for the secret. Every client's
     * ceilings travel with it to where tokens are decided (`ceiling_scopes`, `allowed_resources`, `max_token_ttl`,
     * read by src/oauth/request-facts.ts): an app's from its own row, an agent's from the live agent record, so a
     * suspended agent is no client at all (it cannot authenticate) and a narrowed ceiling applies at once.
     */
    async findMetadata(clientId: string): Promise<ClientMetadata | undefined> {
      // Runs for every authenticated request: one plain query rather than a relation read (measured with
      // `BENCH_CPU_PROF`: the query builder was the largest cost of the token endpoint).
      const [row] = await prisma.$queryRawUnsafe<ClientRow[]>(FIND_CLIENTS_SQL, [clientId]);
      return row ? clientMetadataFromRow(row) : undefined;
    },

    rotateSecret,

    /** An app's new secret, shown once; an app that authenticates without a secret has none to rotate. */
    async rotateAppSecret(clientId: string, tx: Writer = prisma): Promise<string> {
      const app = await getApp(clientId, tx);
      if (!usesSecret(app.authMethod)) {
        throw new InvalidInputError(`this app authenticates with ${app.authMethod} and has no secret`, [
          { path: 'token_endpoint_auth_method', message: app.authMethod },
        ]);
      }
      return rotateSecret(clientId, tx);
    },
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;
