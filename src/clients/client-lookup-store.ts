// The token endpoint's read of a client, as oidc-provider takes it: the same answer as the client registry's
// `findMetadata` (src/clients/client-store.ts), on the pg pool with one named statement, and concurrent lookups
// coalesced into one query (src/db/batching.ts). Read from the database on every request, never cached: a suspended
// agent or a rotated secret is refused by every process at its very next request.
import type { ClientMetadata } from 'oidc-provider';
import type pg from 'pg';
import { createBatcher } from '../db/batching.js';
import { clientMetadataFromRow, FIND_CLIENTS_SQL, type ClientRow } from './client-store.js';

export function createClientLookupStore(pool: pg.Pool, options: { maxBatch?: number; maxInFlight?: number } = {}) {
  const find = createBatcher<string, ClientMetadata | undefined>({
    maxBatch: options.maxBatch ?? 64,
    maxInFlight: options.maxInFlight ?? 1,
    async run(ids) {
      const { rows } = await pool.query<ClientRow & { id: string }>({ name: 'agentauth_find_clients', text: FIND_CLIENTS_SQL, values: [ids] });
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
