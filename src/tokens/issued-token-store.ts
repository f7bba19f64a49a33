// The token endpoint's own SQL for issued tokens, on the pg pool with named (prepared) statements rather than
// Prisma's query building, which profiles showed as the largest cost of a token request:
// - `record`: stores an issued token's payload for oidc-provider, its record and its issuance audit event; the writes
//   of concurrent requests go in one multi-row statement (group commit), and each caller resolves only once the
//   statement holding its row has committed. A failing batch is retried row by row (src/db/batching.ts).
// - `find`: the record of a presented token by jti; concurrent lookups share one query.
import type pg from 'pg';
import { createBatcher } from '../db/batching.js';
import type { Actor, PrincipalKind } from './principals.js';

/** One issuance: the three rows it writes, as plain values (JSON columns as the values themselves, times as ISO strings). */
export type IssuanceRow = {
  payload: { model: string; id: string; value: unknown; grantId: string | null; userCode: string | null; uid: string | null; expiresAt: string | null };
  record: {
    jti: string;
    kind: 'access_token' | 'refresh_token' | 'id_jag';
    format: 'jwt' | 'opaque';
    parentJti: string | null;
    subject: string;
    subjectKind: PrincipalKind;
    actorChain: Actor[];
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
    /** The policy's decision trail (src/policy/decide.ts). */
    decision: unknown;
  };
  event: {
    action: string;
    outcome: string;
    actorKind: string;
    actorId: string | null;
    userId: string | null;
    agentId: string | null;
    actorChain: unknown;
    clientId: string | null;
    requestId: string | null;
    ip: string | null;
    details: Record<string, unknown>;
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
    SELECT * FROM jsonb_to_recordset($1::jsonb)
      AS t(p_model text, p_id text, p_payload jsonb, p_grant_id text, p_user_code text, p_uid text, p_expires_at text,
           jti text, kind text, format text, parent_jti text, subject text, subject_kind text, actor_chain jsonb, client_id text,
           scopes text, audience text, resource text, grant_type text, grant_id text, approval_id text, dpop_jkt text,
           issued_at text, expires_at text,
           e_action text, e_outcome text, e_actor_kind text, e_actor_id text, e_user_id text, e_agent_id text, e_actor_chain jsonb,
           e_client_id text, e_request_id text, e_ip text, e_details jsonb,
           decision jsonb)
  ), stored AS (
    INSERT INTO oidc_payloads (model, id, payload, grant_id, user_code, uid, expires_at)
    SELECT p_model, p_id, p_payload, p_grant_id, p_user_code, p_uid, p_expires_at::timestamptz FROM input
    ON CONFLICT (model, id) DO UPDATE
      SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, user_code = EXCLUDED.user_code, uid = EXCLUDED.uid,
          expires_at = EXCLUDED.expires_at
  ), recorded AS (
    INSERT INTO issued_tokens (jti, kind, format, parent_jti, subject, subject_kind, actor_chain, client_id, scopes, audience,
                               resource, grant_type, grant_id, approval_id, dpop_jkt, issued_at, expires_at, decision)
    SELECT jti, kind::token_kind, format, parent_jti, subject, subject_kind::principal_kind, actor_chain, client_id,
           string_to_array(scopes, ' '), audience, resource, grant_type, grant_id, approval_id, dpop_jkt, issued_at::timestamptz,
           expires_at::timestamptz, decision
    FROM input
    ON CONFLICT (jti) DO NOTHING
    RETURNING jti
  )
  INSERT INTO audit_events (id, action, outcome, actor_kind, actor_id, user_id, agent_id, actor_chain, client_id, request_id, ip, details)
  SELECT gen_random_uuid(), e_action, e_outcome, e_actor_kind, e_actor_id, e_user_id, e_agent_id, e_actor_chain, e_client_id,
         e_request_id, e_ip, e_details
  FROM input JOIN recorded USING (jti)`;

/** A record's columns as `RecordRow` names them (selected from issued_tokens). */
export const RECORD_COLUMNS = `jti, kind::text AS kind, subject, subject_kind::text AS subject_kind, actor_chain, client_id, scopes, audience,
         resource, dpop_jkt, expires_at, revoked_at`;

const FIND = `SELECT ${RECORD_COLUMNS} FROM issued_tokens WHERE jti = ANY($1::text[])`;

export type RecordRow = {
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

/**
 * The batch as one JSON parameter (jsonb_to_recordset): one native JSON.stringify of the rows, their JSON columns
 * included as values (not as text to be escaped again), instead of 36 array literals that pg escapes element by
 * element (the largest cost of the write on the server side, in profiles). As jsonb rather than json: PostgreSQL
 * parses it once, where json_to_recordset re-reads every object and re-parses each jsonb column from its text
 * (the batch's parse alone, 25-row batches of exchange tokens: 25 -> 20-21 µs of backend CPU per row).
 */
function batchJson(rows: IssuanceRow[]): string {
  return JSON.stringify(
    rows.map(({ payload: p, record: r, event: e }) => ({
      p_model: p.model, p_id: p.id, p_payload: p.value, p_grant_id: p.grantId, p_user_code: p.userCode, p_uid: p.uid, p_expires_at: p.expiresAt,
      jti: r.jti, kind: r.kind, format: r.format, parent_jti: r.parentJti, subject: r.subject, subject_kind: r.subjectKind,
      actor_chain: r.actorChain, client_id: r.clientId, scopes: r.scopes.join(' '), audience: r.audience, resource: r.resource,
      grant_type: r.grantType, grant_id: r.grantId, approval_id: r.approvalId, dpop_jkt: r.dpopJkt, issued_at: r.issuedAt,
      expires_at: r.expiresAt,
      e_action: e.action, e_outcome: e.outcome, e_actor_kind: e.actorKind, e_actor_id: e.actorId, e_user_id: e.userId,
      e_agent_id: e.agentId, e_actor_chain: e.actorChain, e_client_id: e.clientId, e_request_id: e.requestId, e_ip: e.ip,
      e_details: e.details,
      decision: r.decision,
    })),
  );
}

export const recordFromRow = (row: RecordRow): IssuedTokenRecord => ({
  jti: row.jti, kind: row.kind, subject: row.subject, subjectKind: row.subject_kind, actorChain: row.actor_chain as Actor[],
  clientId: row.client_id, scopes: row.scopes, audience: row.audience, resource: row.resource, dpopJkt: row.dpop_jkt,
  expiresAt: row.expires_at, revokedAt: row.revoked_at,
});

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
      await pool.query({ name: 'agentauth_issue_tokens', text: ISSUE, values: [batchJson(rows)] });
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
        return row ? recordFromRow(row) : undefined;
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
