// The token endpoint's read of a human's standing approvals of an agent at a resource: the same answer as the
// approval store's `standing` (src/approvals/approval-store.ts), on the pg pool with one named statement, with
// concurrent lookups coalesced into one query (src/db/batching.ts). Never cached: a withdrawn approval stops the
// very next exchange in every process.
import type pg from 'pg';
import { createBatcher } from '../db/batching.js';
import type { Approval } from './approval-store.js';

/**
 * What makes approval `a` a standing one for this human, agent and resource (SQL expressions): the token endpoint's
 * reads all ask it in these words (here, and src/tokens/exchange-facts-store.ts).
 */
export const standingApprovalCondition = (a: string, user: string, agent: string, resource: string) =>
  `${a}.user_id = ${user} AND ${a}.agent_id = ${agent} AND ${a}.status = 'active' AND ${a}.expires_at > now() AND ${resource} = ANY(${a}.resources)`;

const STANDING = `
  SELECT k.i::int AS i, a.id::text AS id, a.user_id::text AS "userId", a.agent_id AS "agentId", a.scopes, a.resources,
         a.expires_at AS "expiresAt", a.status::text AS status, a.granted_via::text AS "grantedVia", a.grant_id AS "grantId",
         a.created_at AS "createdAt", a.revoked_at AS "revokedAt", a.revoked_reason AS "revokedReason"
  FROM unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY AS k(user_id, agent_id, resource, i)
  JOIN approvals a ON ${standingApprovalCondition('a', 'k.user_id', 'k.agent_id', 'k.resource')}
  ORDER BY k.i, a.created_at DESC`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Key = { userId: string; agentId: string; resource: string };

export function createStandingApprovalStore(pool: pg.Pool, options: { maxBatch?: number; maxInFlight?: number } = {}) {
  const find = createBatcher<Key, Approval[]>({
    maxBatch: options.maxBatch ?? 64,
    maxInFlight: options.maxInFlight ?? 1,
    async run(keys) {
      const { rows } = await pool.query<Approval & { i: number }>({
        name: 'agentauth_standing_approvals',
        text: STANDING,
        values: [keys.map((k) => k.userId), keys.map((k) => k.agentId), keys.map((k) => k.resource)],
      });
      const byKey = keys.map((): Approval[] => []);
      for (const { i, ...approval } of rows) byKey[i - 1]!.push(approval);
      return byKey;
    },
  });
  return {
    /** Active, unexpired approvals by this human of this agent covering this resource, newest first. */
    async standing(userId: string, agentId: string, resource: string): Promise<Approval[]> {
      // Humans are known by uuid; anything else has no approval (and must not fail a shared query's cast).
      if (!UUID.test(userId)) return [];
      return find({ userId, agentId, resource });
    },
  };
}

export type StandingApprovalStore = ReturnType<typeof createStandingApprovalStore>;
