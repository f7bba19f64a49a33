// The hot read of oidc-provider's storage: a payload by (model, stored id), as introspection, refresh and
// revocation look tokens up. One named statement on the pg pool, concurrent lookups coalesced into one query
// (src/db/batching.ts); expiry is checked in the query, as src/oauth/adapter.ts guarantees. Never cached: a revoked
// token's payload is gone for every process the moment the revocation commits.
import type pg from 'pg';
import { createBatcher } from '../db/batching.js';

const FIND = `
  SELECT p.model, p.id, p.payload, p.consumed_at
  FROM unnest($1::text[], $2::text[]) AS k(model, id)
  JOIN oidc_payloads p ON p.model = k.model AND p.id = k.id
  WHERE p.expires_at IS NULL OR p.expires_at > now()`;

export type StoredPayload = { payload: unknown; consumedAt: Date | null };

export function createPayloadStore(pool: pg.Pool, options: { maxBatch?: number; maxInFlight?: number } = {}) {
  const find = createBatcher<{ model: string; id: string }, StoredPayload | undefined>({
    maxBatch: options.maxBatch ?? 64,
    maxInFlight: options.maxInFlight ?? 1,
    async run(keys) {
      const { rows } = await pool.query<{ model: string; id: string; payload: unknown; consumed_at: Date | null }>({
        name: 'agentauth_find_payloads',
        text: FIND,
        values: [keys.map((k) => k.model), keys.map((k) => k.id)],
      });
      const byKey = new Map(rows.map((row) => [`${row.model}\n${row.id}`, row]));
      return keys.map((k) => {
        const row = byKey.get(`${k.model}\n${k.id}`);
        return row ? { payload: row.payload, consumedAt: row.consumed_at } : undefined;
      });
    },
  });
  return {
    /** The unexpired payload stored under (model, already hashed id), or undefined. */
    find: (model: string, id: string) => find({ model, id }),
  };
}

export type PayloadStore = ReturnType<typeof createPayloadStore>;
