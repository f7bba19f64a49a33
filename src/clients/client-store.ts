// OAuth clients (apps and, later, agents) in PostgreSQL. The stored metadata is what oidc-provider validates and
// uses; a generated client secret is kept only as its keyed hash and handed to oidc-provider in place of the secret,
// where `compareClientSecret` (src/oauth/client-secrets.ts) compares against it in constant time.
import { randomUUID } from 'node:crypto';
import type { ClientMetadata } from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { generateSecret, type SecretHasher } from '../secrets/secret-hasher.js';

/** Scopes of OpenID Connect itself, which every client may ask for alongside resource scopes. */
export const OIDC_SCOPES = ['openid', 'offline_access', 'profile'];
/** The OpenID CIBA grant type (backchannel authentication, poll mode). */
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

export const SECRET_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export const KEY_AUTH_METHODS = ['private_key_jwt'] as const;
export const AUTH_METHODS = [...SECRET_AUTH_METHODS, ...KEY_AUTH_METHODS, 'none'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

export type NewApp = {
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  grantTypes: string[];
  authMethod: AuthMethod;
  jwks?: { keys: unknown[] };
  /** The app's scope ceiling at its resources; none: no resource scope at all (deny by default). */
  scopes?: string[];
  /** Resource identifiers the app may get access tokens for; none: no access token for any resource. */
  resources?: string[];
  dpopBoundAccessTokens?: boolean;
  /** For a resource server's own client: the resource identifier whose tokens it may introspect. */
  resourceServer?: string;
};

type ClientRow = {
  metadata: unknown;
  secret_hash: string | null;
  scopes: string[] | null;
  resources: string[] | null;
  agent_status: string | null;
  agent_scopes: string[] | null;
  agent_audiences: string[] | null;
  agent_max_token_ttl: number | null;
};

export type CreatedClient = { clientId: string; clientSecret?: string };

const usesSecret = (method: string) => (SECRET_AUTH_METHODS as readonly string[]).includes(method);

export function createClientStore(prisma: PrismaClient, secrets: SecretHasher) {
  return {
    async createApp(app: NewApp): Promise<CreatedClient> {
      const clientId = randomUUID();
      const clientSecret = usesSecret(app.authMethod) ? generateSecret('aa_cs') : undefined;
      const metadata: ClientMetadata = {
        client_id: clientId,
        client_name: app.name,
        principal_kind: 'app',
        redirect_uris: app.redirectUris,
        post_logout_redirect_uris: app.postLogoutRedirectUris ?? [],
        grant_types: app.grantTypes,
        response_types: app.grantTypes.includes('authorization_code') ? ['code'] : [],
        token_endpoint_auth_method: app.authMethod,
        ...(app.jwks ? { jwks: app.jwks as ClientMetadata['jwks'] } : {}),
        ...(app.dpopBoundAccessTokens ? { dpop_bound_access_tokens: true } : {}),
        ...(app.resourceServer ? { resource_server: app.resourceServer } : {}),
      };
      await prisma.client.create({
        data: {
          id: clientId,
          kind: 'app',
          name: app.name,
          metadata: metadata as Prisma.InputJsonValue,
          secretHash: clientSecret ? secrets.hash(clientSecret) : null,
          scopes: [...new Set(app.scopes ?? [])],
          resources: [...new Set(app.resources ?? [])],
        },
      });
      return { clientId, ...(clientSecret ? { clientSecret } : {}) };
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
      const [row] = await prisma.$queryRaw<ClientRow[]>`
        SELECT c.metadata, c.secret_hash, c.scopes, c.resources, a.status::text AS agent_status, a.scopes AS agent_scopes,
               a.audiences AS agent_audiences, a.max_token_ttl AS agent_max_token_ttl
        FROM clients c LEFT JOIN agents a ON a.id = c.id
        WHERE c.id = ${clientId}`;
      if (!row) return undefined;
      let metadata: ClientMetadata = { ...(row.metadata as ClientMetadata), ceiling_scopes: row.scopes ?? [], allowed_resources: row.resources ?? [] };
      if (row.agent_status !== null) {
        if (row.agent_status !== 'active') return undefined;
        metadata = {
          ...metadata,
          ceiling_scopes: row.agent_scopes ?? [],
          allowed_resources: row.agent_audiences ?? [],
          max_token_ttl: row.agent_max_token_ttl,
          // Every agent may ask a human asynchronously (CIBA, poll mode): derived here so existing agents get it too.
          grant_types: [...new Set([...(metadata.grant_types ?? []), CIBA_GRANT])],
          backchannel_token_delivery_mode: 'poll',
        };
      }
      return row.secret_hash ? { ...metadata, client_secret: row.secret_hash } : metadata;
    },

    /** Replaces the secret; the old one stops working with the next request. Returns the new secret, once. */
    async rotateSecret(clientId: string): Promise<string> {
      const clientSecret = generateSecret('aa_cs');
      await prisma.client.update({ where: { id: clientId }, data: { secretHash: secrets.hash(clientSecret) } });
      return clientSecret;
    },
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;
