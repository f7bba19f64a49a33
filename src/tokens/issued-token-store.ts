// The token endpoint's own SQL for issued tokens, on the pg pool with named (prepared) statements rather than
// Prisma's query building, which profiles showed as the largest cost of a token request:
// - `record`: stores an issued token's payload for oidc-provider, its record and its issuance audit event; the writes
//   of concurrent requests go in one multi-row statement (group commit), and each caller resolves only once the
//   statement holding its row has committed. A failing batch is retried row by row (src/db/batching.ts).
// - `find`: the record of a presented token by jti; concurrent lookups share one query.
import type pg from 'pg';
import { createBatcher } from '../db/batching.js';
import type { Actor, PrincipalKind } from './principals.js';

/** One issuance: the three rows it writes, as plain values (JSON as text, times as ISO strings). */
export type IssuanceRow = {
  payload: { model: string; id: string; json: string; grantId: string | null; userCode: string | null; uid: string | null; expiresAt: string | null };
  record: {
    jti: string;
    kind: 'access_token' | 'refresh_token' | 'id_jag';
    format: 'jwt' | 'opaque';
    parentJti: string | null;
    subject: string;
    subjectKind: PrincipalKind;
    actorChain: string;
    clientId: string;
    scopes: string[];
    audience: string | null;
    resource: string | null;
    grantType: string;
    grantId: string | null;
    approvalId: string | null;
    dpopJkt: string | null;
    issuedAt: string;
    expiresAt: string;
    /** The policy's decision trail, JSON (src/policy/decide.ts). */
    decision: string | null;
  };
  event: {
    action: string;
    outcome: string;
    actorKind: string;
    actorId: string | null;
    userId: string | null;
    agentId: string | null;
    actorChain: string | null;
    clientId: string | null;
    requestId: string | null;
    ip: string | null;
    details: string;
  };
};

export type IssuedTokenRecord = {
  jti: string;
  kind: 'access_token' | 'refresh_token' | 'id_jag';
  subject: string;
  subjectKind: PrincipalKind;
  actorChain: Actor[];
  clientId: string;
  scopes: string[];
  audience: string | null;
  resource: string | null;
  dpopJkt: string | null;
  expiresAt: Date;
  revokedAt: Date | null;
};

// The event is written only when the record is new (ON CONFLICT DO NOTHING ... RETURNING), so every token has
// exactly one issuance event even if oidc-provider saves a token twice.
const ISSUE = `
  WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                         $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[],
                         $25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::text[], $31::text[], $32::text[],
                         $33::text[], $34::text[], $35::text[], $36::text[])
      AS t(p_model, p_id, p_payload, p_grant_id, p_user_code, p_uid, p_expires_at,
           jti, kind, format, parent_jti, subject, subject_kind, actor_chain, client_id, scopes, audience, resource, grant_type,
           grant_id, approval_id, dpop_jkt, issued_at, expires_at,
           e_action, e_outcome, e_actor_kind, e_actor_id, e_user_id, e_agent_id, e_actor_chain, e_client_id, e_request_id, e_ip, e_details,
           decision)
  ), stored AS (
    INSERT INTO oidc_payloads (model, id, payload, grant_id, user_code, uid, expires_at)
    SELECT p_model, p_id, p_payload::jsonb, p_grant_id, p_user_code, p_uid, p_expires_at::timestamptz FROM input
    ON CONFLICT (model, id) DO UPDATE
      SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, user_code = EXCLUDED.user_code, uid = EXCLUDED.uid,
          expires_at = EXCLUDED.expires_at
  ), recorded AS (
    INSERT INTO issued_tokens (jti, kind, format, parent_jti, subject, subject_kind, actor_chain, client_id, scopes, audience,
                               resource, grant_type, grant_id, approval_id, dpop_jkt, issued_at, expires_at, decision)
    SELECT jti, kind::token_kind, format, parent_jti, subject, subject_kind::principal_kind, actor_chain::jsonb, client_id,
           string_to_array(scopes, ' '), audience, resource, grant_type, grant_id, approval_id, dpop_jkt, issued_at::timestamptz,
           expires_at::timestamptz, decision::jsonb
    FROM input
    ON CONFLICT (jti) DO NOTHING
    RETURNING jti
  )
  INSERT INTO audit_events (id, action, outcome, actor_kind, actor_id, user_id, agent_id, actor_chain, client_id, request_id, ip, details)
  SELECT gen_random_uuid(), e_action, e_outcome, e_actor_kind, e_actor_id, e_user_id, e_agent_id, e_actor_chain::jsonb, e_client_id,
         e_request_id, e_ip, e_details::jsonb
  FROM input JOIN recorded USING (jti)`;

const FIND = `
  SELECT jti, kind::text AS kind, subject, subject_kind::text AS subject_kind, actor_chain, client_id, scopes, audience, resource,
         dpop_jkt, expires_at, revoked_at
  FROM issued_tokens WHERE jti = ANY($1::text[])`;

type RecordRow = {
  jti: string;
  kind: IssuedTokenRecord['kind'];
  subject: string;
  subject_kind: PrincipalKind;
  actor_chain: unknown;
  client_id: string;
  scopes: string[];
  audience: string | null;
  resource: string | null;
  dpop_jkt: string | null;
  expires_at: Date;
  revoked_at: Date | null;
};

function columns(rows: IssuanceRow[]): Array<Array<string | null>> {
  const pick = (f: (row: IssuanceRow) => string | null) => rows.map(f);
  return [
    pick((r) => r.payload.model), pick((r) => r.payload.id), pick((r) => r.payload.json), pick((r) => r.payload.grantId),
    pick((r) => r.payload.userCode), pick((r) => r.payload.uid), pick((r) => r.payload.expiresAt),
    pick((r) => r.record.jti), pick((r) => r.record.kind), pick((r) => r.record.format), pick((r) => r.record.parentJti),
    pick((r) => r.record.subject), pick((r) => r.record.subjectKind), pick((r) => r.record.actorChain), pick((r) => r.record.clientId),
    pick((r) => r.record.scopes.join(' ')), pick((r) => r.record.audience), pick((r) => r.record.resource), pick((r) => r.record.grantType),
    pick((r) => r.record.grantId), pick((r) => r.record.approvalId), pick((r) => r.record.dpopJkt), pick((r) => r.record.issuedAt),
    pick((r) => r.record.expiresAt),
    pick((r) => r.event.action), pick((r) => r.event.outcome), pick((r) => r.event.actorKind), pick((r) => r.event.actorId),
    pick((r) => r.event.userId), pick((r) => r.event.agentId), pick((r) => r.event.actorChain), pick((r) => r.event.clientId),
    pick((r) => r.event.requestId), pick((r) => r.event.ip), pick((r) => r.event.details),
    pick((r) => r.record.decision),
  ];
}

export type IssuedTokenStoreOptions = {
  /** Rows per group commit (measured: 64 rows commit in about a millisecond here). */
  maxBatch?: number;
  /** Statements of each kind in flight at once. */
  maxInFlight?: number;
};

export function createIssuedTokenStore(pool: pg.Pool, options: IssuedTokenStoreOptions = {}) {
  const maxBatch = options.maxBatch ?? 64;
  const maxInFlight = options.maxInFlight ?? 1;
  const record = createBatcher<IssuanceRow, void>({
    maxBatch,
    maxInFlight,
    async run(rows) {
      // One statement, so one implicit transaction: all rows of the batch commit together, or none does.
      await pool.query({ name: 'agentauth_issue_tokens', text: ISSUE, values: columns(rows) });
      return rows.map(() => undefined);
    },
  });
  const find = createBatcher<string, IssuedTokenRecord | undefined>({
    maxBatch,
    maxInFlight,
    async run(jtis) {
      const { rows } = await pool.query<RecordRow>({ name: 'agentauth_find_issued_tokens', text: FIND, values: [jtis] });
      const byJti = new Map(rows.map((row) => [row.jti, row]));
      return jtis.map((jti) => {
        const row = byJti.get(jti);
        return row
          ? {
              jti: row.jti, kind: row.kind, subject: row.subject, subjectKind: row.subject_kind, actorChain: row.actor_chain as Actor[],
              clientId: row.client_id, scopes: row.scopes, audience: row.audience, resource: row.resource, dpopJkt: row.dpop_jkt,
              expiresAt: row.expires_at, revokedAt: row.revoked_at,
            }
          : undefined;
      });
    },
  });
  return {
    /** Resolves once this issuance (payload, record, audit event) is committed; rejects if its own row failed. */
    record,
    /** The record of a token by jti (live, expired or revoked), or undefined. Read from the database on every call. */
    find,
  };
}

export type IssuedTokenStore = ReturnType<typeof createIssuedTokenStore>;
