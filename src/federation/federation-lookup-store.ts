// What the token endpoint reads about trusted outside issuers, in one query per question: the issuer with the local
// principal its assertion's subject maps to (an agent's workload identity, a human's external identity), and an
// agent's client id at another authorization server. Read on every use, never cached, so deleting a trusted issuer
// or unlinking an identity refuses the very next assertion in every process. The admin side is
// src/federation/trusted-issuer-store.ts.
import type { PrismaClient } from '../db/client.js';

export type TrustPurpose = 'workload' | 'id_jag';

/** A trusted issuer as the verifier needs it: its keys (inline or by URI) and what it may be used for. */
export type TrustedIssuerKeys = {
  id: string;
  issuer: string;
  jwks: { keys: unknown[] } | null;
  jwksUri: string | null;
  purposes: TrustPurpose[];
  /** Empty: any client. */
  allowedClients: string[];
  /** Empty: any registered resource. */
  allowedResources: string[];
  updatedAt: Date;
};

type IssuerRow = {
  id: string;
  issuer: string;
  jwks: { keys: unknown[] } | null;
  jwks_uri: string | null;
  purposes: TrustPurpose[];
  allowed_clients: string[];
  allowed_resources: string[];
  updated_at: Date;
};

const toIssuer = (row: IssuerRow): TrustedIssuerKeys => ({
  id: row.id,
  issuer: row.issuer,
  jwks: row.jwks,
  jwksUri: row.jwks_uri,
  purposes: row.purposes,
  allowedClients: row.allowed_clients,
  allowedResources: row.allowed_resources,
  updatedAt: row.updated_at,
});

export function createFederationLookupStore(prisma: PrismaClient) {
  return {
    /**
     * The trusted issuer `iss` (for `purpose`) and the agent whose workload identity (iss, sub) is, if any; the agent
     * is named whatever its status (the client registry refuses a suspended one).
     */
    async workload(iss: string, sub: string): Promise<{ issuer: TrustedIssuerKeys; agentId: string | undefined } | undefined> {
      const [row] = await prisma.$queryRaw<Array<IssuerRow & { agent_id: string | null }>>`
        SELECT t.id::text AS id, t.issuer, t.jwks, t.jwks_uri, t.purposes::text[] AS purposes, t.allowed_clients,
               t.allowed_resources, t.updated_at, w.agent_id
        FROM trusted_issuers t LEFT JOIN workload_identities w ON w.issuer = t.issuer AND w.subject = ${sub}
        WHERE t.issuer = ${iss} AND 'workload' = ANY(t.purposes)`;
      return row ? { issuer: toIssuer(row), agentId: row.agent_id ?? undefined } : undefined;
    },

    /** The trusted ID-JAG issuer `iss` and the human its subject `sub` is linked to (explicitly, never by e-mail). */
    async identityAssertion(iss: string, sub: string): Promise<{ issuer: TrustedIssuerKeys; user: { id: string; active: boolean } | undefined } | undefined> {
      const [row] = await prisma.$queryRaw<Array<IssuerRow & { user_id: string | null; user_status: string | null }>>`
        SELECT t.id::text AS id, t.issuer, t.jwks, t.jwks_uri, t.purposes::text[] AS purposes, t.allowed_clients,
               t.allowed_resources, t.updated_at, u.id::text AS user_id, u.status::text AS user_status
        FROM trusted_issuers t
        LEFT JOIN external_identities e ON e.issuer = t.issuer AND e.subject = ${sub}
        LEFT JOIN users u ON u.id = e.user_id
        WHERE t.issuer = ${iss} AND 'id_jag' = ANY(t.purposes)`;
      if (!row) return undefined;
      return { issuer: toIssuer(row), user: row.user_id ? { id: row.user_id, active: row.user_status === 'active' } : undefined };
    },

    /** The agent's client id at another authorization server (its issuer), as registered; undefined: none named. */
    async remoteClientId(agentId: string, authorizationServer: string): Promise<string | undefined> {
      const [row] = await prisma.$queryRaw<Array<{ remote_client_ids: unknown }>>`
        SELECT remote_client_ids FROM agents WHERE id = ${agentId}`;
      const entries = Array.isArray(row?.remote_client_ids) ? (row.remote_client_ids as Array<{ authorization_server?: unknown; client_id?: unknown }>) : [];
      const match = entries.find((entry) => entry.authorization_server === authorizationServer);
      return typeof match?.client_id === 'string' ? match.client_id : undefined;
    },
  };
}

export type FederationLookupStore = ReturnType<typeof createFederationLookupStore>;
