// A token exchange's facts in one statement: the presented token's record, the resource the exchange is for (the one
// the request names, else the token's own) and the human's standing approvals of the calling agent there. Three
// reads in three round trips before (src/tokens/issued-token-store.ts, src/resources/resource-store.ts,
// src/approvals/standing-approval-store.ts), one now, with the same columns and the same standing-approval rule;
// concurrent exchanges share the statement (src/db/batching.ts). Read on every request, never cached: a revoked
// token, a withdrawn approval or a changed resource bites at the very next exchange in every process.
import type pg from 'pg';
import { standingApprovalCondition } from '../approvals/standing-approval-store.js';
import { createBatcher } from '../db/batching.js';
import { RESOURCE_COLUMNS, toResource, type Resource, type ResourceRow } from '../resources/resource-store.js';
import { RECORD_COLUMNS, recordFromRow, type IssuedTokenRecord, type RecordRow } from './issued-token-store.js';

/** A standing approval as the policy reads it. */
export type StandingApproval = { id: string; agentId: string; scopes: string[]; resources: string[]; expiresAt: Date };

export type ExchangeFacts = {
  record: IssuedTokenRecord | undefined;
  /**
   * The resource whose facts were read: the one asked for, else the presented token's resource or audience (the
   * policy's exchangeTarget default, applied here to read in one round trip; the grant checks it against the policy).
   */
  identifier: string | undefined;
  resource: Resource | undefined;
  /** Only for a human's token: the human's standing approvals of the agent at `identifier`, newest first. */
  approvals: StandingApproval[];
};

export type ExchangeFactsKey = { jti: string; resource: string | undefined; agentId: string };

// Humans are known by uuid: anything else has no approval, and must not fail the shared statement's cast (CASE
// evaluates the cast only for a uuid).
const HUMAN_ID = `CASE WHEN t.subject ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN t.subject::uuid END`;

const EXCHANGE_FACTS = `
  SELECT k.i::int AS i, t.*, target.identifier AS target, to_json(r) AS resource_server,
         (SELECT coalesce(json_agg(json_build_object('id', a.id, 'agentId', a.agent_id, 'scopes', a.scopes, 'resources', a.resources,
                                                     'expiresAt', a.expires_at) ORDER BY a.created_at DESC), '[]'::json)
            FROM approvals a
           WHERE t.subject_kind = 'human' AND ${standingApprovalCondition('a', HUMAN_ID, 'k.agent_id', 'target.identifier')}) AS approvals
  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(jti, resource, agent_id, i)
  LEFT JOIN LATERAL (SELECT ${RECORD_COLUMNS} FROM issued_tokens WHERE jti = k.jti) t ON true
  CROSS JOIN LATERAL (SELECT coalesce(k.resource, t.resource, t.audience) AS identifier) target
  LEFT JOIN LATERAL (SELECT ${RESOURCE_COLUMNS} FROM resource_servers WHERE identifier = target.identifier) r ON true
  ORDER BY k.i`;

type Row = Partial<RecordRow> & {
  i: number;
  target: string | null;
  resource_server: ResourceRow | null;
  approvals: Array<Omit<StandingApproval, 'expiresAt'> & { expiresAt: string }>;
};

export function createExchangeFactsStore(pool: pg.Pool, options: { maxBatch?: number; maxInFlight?: number } = {}) {
  const find = createBatcher<ExchangeFactsKey, ExchangeFacts>({
    maxBatch: options.maxBatch ?? 64,
    maxInFlight: options.maxInFlight ?? 1,
    async run(keys) {
      const { rows } = await pool.query<Row>({
        name: 'agentauth_exchange_facts',
        text: EXCHANGE_FACTS,
        values: [keys.map((k) => k.jti), keys.map((k) => k.resource ?? null), keys.map((k) => k.agentId)],
      });
      return rows.map((row) => ({
        record: row.jti ? recordFromRow(row as RecordRow) : undefined,
        identifier: row.target ?? undefined,
        resource: row.resource_server ? toResource(row.resource_server) : undefined,
        approvals: row.approvals.map((a) => ({ ...a, expiresAt: new Date(a.expiresAt) })),
      }));
    },
  });
  return {
    /** The facts of one exchange: the record of the token presented (by jti), its target resource and approvals. */
    find,
  };
}

export type ExchangeFactsStore = ReturnType<typeof createExchangeFactsStore>;
