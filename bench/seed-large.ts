// The large database of the benchmark, seeded in seconds with SQL generate_series rather than through the API:
// 1,000,000 issued-token records, 1,000,000 audit events already chained and checkpointed (in the chain format of
// src/audit/audit-chain.ts, so the chainer finds nothing to do and `audit verify` accepts them), 10,000 agents,
// 100,000 approvals. Token records are expired but younger than any retention, so no sweeper has work either.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { checkpointSignature, GENESIS, linkHmac, type AuditChainKeys, type EventRow } from '../src/audit/audit-chain.js';

export const LARGE = { tokens: 1_000_000, auditEvents: 1_000_000, agents: 10_000, users: 1_000, approvals: 100_000 };
/** The chainer writes a checkpoint per pass of at most this many events; the seed does the same. */
const CHECKPOINT_EVERY = 20_000;
const CHUNK = 50_000;

const uuidOf = (text: string) => {
  const hex = createHash('md5').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

export async function seedLargeDatabase(databaseUrl: string, keys: AuditChainKeys, resource: string): Promise<number> {
  const started = Date.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(`
      INSERT INTO users (id, username, password_hash, updated_at)
      SELECT md5('bench-user-' || i)::uuid, 'bench-user-' || i, 'not-a-password-hash', now()
      FROM generate_series(0, $1::int - 1) AS i`, [LARGE.users]);
    await client.query(`
      INSERT INTO clients (id, kind, name, metadata, secret_hash, updated_at)
      SELECT 'bench-agent-' || i, 'agent', 'Seeded agent ' || i,
             jsonb_build_object('client_id', 'bench-agent-' || i, 'principal_kind', 'agent', 'grant_types', jsonb_build_array('client_credentials'),
                                'redirect_uris', '[]'::jsonb, 'response_types', '[]'::jsonb, 'token_endpoint_auth_method', 'client_secret_basic'),
             'hmac-sha256:seeded', now()
      FROM generate_series(0, $1::int - 1) AS i`, [LARGE.agents]);
    await client.query(`
      INSERT INTO agents (id, name, owner_user_id, scopes, audiences, max_token_ttl, updated_at)
      SELECT 'bench-agent-' || i, 'Seeded agent ' || i, md5('bench-user-' || (i % $2::int))::uuid, '{files:read}', ARRAY[$3::text], 600, now()
      FROM generate_series(0, $1::int - 1) AS i`, [LARGE.agents, LARGE.users, resource]);
    await client.query(`
      INSERT INTO approvals (id, user_id, agent_id, scopes, resources, expires_at, granted_via, updated_at)
      SELECT gen_random_uuid(), md5('bench-user-' || (i % $2::int))::uuid, 'bench-agent-' || (i % $3::int), '{files:read}', ARRAY[$4::text],
             now() + interval '30 days', 'admin', now()
      FROM generate_series(0, $1::int - 1) AS i`, [LARGE.approvals, LARGE.users, LARGE.agents, resource]);
    await client.query(`
      INSERT INTO issued_tokens (jti, kind, format, subject, subject_kind, actor_chain, client_id, scopes, audience, resource, grant_type,
                                 issued_at, expires_at)
      SELECT 'seed-' || i, 'access_token', 'jwt', md5('bench-user-' || (i % $2::int))::uuid::text, 'human',
             jsonb_build_array(jsonb_build_object('sub', 'bench-agent-' || (i % $3::int), 'kind', 'agent')),
             'bench-agent-' || (i % $3::int), '{files:read}', $4, $4, 'urn:ietf:params:oauth:grant-type:token-exchange',
             now() - interval '2 days' + i * interval '100 milliseconds', now() - interval '2 days' + i * interval '100 milliseconds' + interval '5 minutes'
      FROM generate_series(1, $1::int) AS i`, [LARGE.tokens, LARGE.users, LARGE.agents, resource]);

    // Audit events with content the seed can recompute here, so their chain links are real HMACs.
    const base = Date.now() - 3 * 86_400_000;
    await client.query(`
      INSERT INTO audit_events (seq, id, occurred_at, action, outcome, actor_kind, actor_id, agent_id, client_id, details)
      SELECT i, md5('bench-audit-' || i)::uuid, timestamptz 'epoch' + ($2::bigint + i) * interval '1 millisecond', 'token.issued', 'success', 'agent',
             'bench-agent-' || (i % $3::int), 'bench-agent-' || (i % $3::int), 'bench-agent-' || (i % $3::int), jsonb_build_object('jti', 'seed-' || i)
      FROM generate_series(1, $1::int) AS i`, [LARGE.auditEvents, base, LARGE.agents]);
    await client.query(`SELECT setval(pg_get_serial_sequence('audit_events', 'seq'), $1::bigint)`, [LARGE.auditEvents]);
    let previous = GENESIS;
    const checkpoints: Array<{ lastSeq: bigint; chainHmac: string; createdAt: Date }> = [];
    for (let from = 1; from <= LARGE.auditEvents; from += CHUNK) {
      const seqs: string[] = [];
      const ids: string[] = [];
      const hmacs: string[] = [];
      for (let i = from; i < Math.min(from + CHUNK, LARGE.auditEvents + 1); i += 1) {
        const agent = `bench-agent-${i % LARGE.agents}`;
        const event: EventRow = {
          seq: BigInt(i), id: uuidOf(`bench-audit-${i}`), occurredAt: new Date(base + i), action: 'token.issued', outcome: 'success', actorKind: 'agent',
          actorId: agent, userId: null, agentId: agent, actorChain: null, clientId: agent, requestId: null, ip: null, details: { jti: `seed-${i}` },
        };
        previous = linkHmac(keys, previous, event);
        seqs.push(String(i));
        ids.push(event.id);
        hmacs.push(previous);
        if (i % CHECKPOINT_EVERY === 0 || i === LARGE.auditEvents) checkpoints.push({ lastSeq: BigInt(i), chainHmac: previous, createdAt: new Date(base + i + 1000) });
      }
      await client.query('INSERT INTO audit_chain (seq, event_id, hmac) SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[])', [seqs, ids, hmacs]);
    }
    for (const c of checkpoints) {
      await client.query('INSERT INTO audit_checkpoints (last_seq, chain_hmac, anchor, signature, created_at) VALUES ($1, $2, false, $3, $4)', [
        c.lastSeq.toString(), c.chainHmac, checkpointSignature(keys, { ...c, anchor: false }), c.createdAt,
      ]);
    }
    await client.query('COMMIT');
    // What the database would otherwise do in the background during the measurement: vacuum the freshly inserted
    // millions of rows (autovacuum's insert threshold), analyze them, and write their pages out at the next checkpoint.
    await client.query('VACUUM (ANALYZE)');
    await client.query('CHECKPOINT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
  return Date.now() - started;
}

/** `count` live JWT access-token records of one agent for one human, with their stored payloads (as issuance leaves them). */
export async function seedLiveTokens(databaseUrl: string, hashId: (id: string) => string, token: { agentId: string; userId: string; resource: string; count: number }): Promise<void> {
  const jtis = Array.from({ length: token.count }, (_, i) => `cascade-${token.agentId}-${i}`);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`
      INSERT INTO issued_tokens (jti, kind, format, subject, subject_kind, actor_chain, client_id, scopes, audience, resource, grant_type, issued_at, expires_at)
      SELECT jti, 'access_token', 'jwt', $2, 'human', jsonb_build_array(jsonb_build_object('sub', $3::text, 'kind', 'agent')), $3, '{files:read}', $4, $4,
             'urn:ietf:params:oauth:grant-type:token-exchange', now(), now() + interval '10 minutes'
      FROM unnest($1::text[]) AS jti`, [jtis, token.userId, token.agentId, token.resource]);
    await client.query(`
      INSERT INTO oidc_payloads (model, id, payload, expires_at)
      SELECT 'AccessToken', id, jsonb_build_object('jti', jti, 'kind', 'AccessToken', 'clientId', $3::text, 'accountId', $4::text), now() + interval '10 minutes'
      FROM unnest($1::text[], $2::text[]) AS t(jti, id)`, [jtis, jtis.map(hashId), token.agentId, token.userId]);
    // Done now rather than by autovacuum while the scenarios run.
    await client.query('VACUUM (ANALYZE) issued_tokens, oidc_payloads');
  } finally {
    await client.end();
  }
}
