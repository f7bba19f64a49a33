// The token endpoint's read of a client, as oidc-provider takes it: the same answer as the client registry's
// `findMetadata` (src/clients/client-store.ts), on the pg pool with one named statement, and concurrent lookups
// coalesced into one query (src/db/batching.ts). Read from the database on every request, never cached: a suspended
// agent or a rotated secret is refused by every process at its very next request.
import type { ClientMetadata } from 'oidc-provider';
import type pg from 'pg';
import { createBatcher } from '../db/batching.js';
import { CIBA_GRANT } from './client-store.js';

const FIND = `
  SELECT c.id, c.metadata, c.secret_hash, a.status::text AS agent_status, a.scopes AS agent_scopes,
         a.audiences AS agent_audiences, a.max_token_ttl AS agent_max_token_ttl
  FROM clients c LEFT JOIN agents a ON a.id = c.id
  WHERE c.id = ANY($1::text[])`;

export type ClientRow = {
  metadata: unknown;
  secret_hash: string | null;
  agent_status: string | null;
  agent_scopes: string[] | null;
  agent_audiences: string[] | null;
  agent_max_token_ttl: number | null;
};

/**
 * A client row as oidc-provider metadata. The secret's hash stands in for the secret. For an agent the live agent
 * record decides: a suspended agent is no client at all, and its scope ceiling, audiences and lifetime cap travel
 * with the client to where tokens are issued.
 */
export function clientMetadataFromRow(row: ClientRow): ClientMetadata | undefined {
  let metadata = row.metadata as ClientMetadata;
  if (row.agent_status !== null) {
    if (row.agent_status !== 'active') return undefined;
    metadata = {
      ...metadata,
      agent_scopes: row.agent_scopes,
      agent_audiences: row.agent_audiences,
      agent_max_token_ttl: row.agent_max_token_ttl,
      // Every agent may ask a human asynchronously (CIBA, poll mode): derived here so existing agents get it too.
      grant_types: [...new Set([...(metadata.grant_types ?? []), CIBA_GRANT])],
      backchannel_token_delivery_mode: 'poll',
    };
  }
  return row.secret_hash ? { ...metadata, client_secret: row.secret_hash } : metadata;
}

export function createClientLookupStore(pool: pg.Pool, options: { maxBatch?: number; maxInFlight?: number } = {}) {
  const find = createBatcher<string, ClientMetadata | undefined>({
    maxBatch: options.maxBatch ?? 64,
    maxInFlight: options.maxInFlight ?? 1,
    async run(ids) {
      const { rows } = await pool.query<ClientRow & { id: string }>({ name: 'agentauth_find_clients', text: FIND, values: [ids] });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => {
        const row = byId.get(id);
        return row ? clientMetadataFromRow(row) : undefined;
      });
    },
  });
  return {
    /** The client as oidc-provider takes it, or undefined (unknown, or a suspended agent). */
    findMetadata: (clientId: string): Promise<ClientMetadata | undefined> => find(clientId),
  };
}

export type ClientLookupStore = ReturnType<typeof createClientLookupStore>;
