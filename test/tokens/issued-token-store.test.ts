// Group commit of issuances and batched record reads, against a real database with real concurrency: rows of
// concurrent callers share statements, each caller's promise settles only once its own row is committed, and a bad
// row fails only its own caller.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { connectDatabase, type Database } from '../../src/db/client.js';
import { createLogger } from '../../src/observability/logger.js';
import { createIssuedTokenStore, type IssuanceRow } from '../../src/tokens/issued-token-store.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';

let database: TestDatabase;
let db: Database;
let reader: pg.Pool;

beforeAll(async () => {
  database = await createTestDatabase();
  db = connectDatabase(database.url, createLogger('silent'), 10);
  reader = new pg.Pool({ connectionString: database.url, max: 4 });
});

afterAll(async () => {
  await reader.end();
  await db.close();
  await database.drop();
});

/** The pool, with every issuance statement's batch (its jtis) noted: what was sent, not a fake of the database. */
function observedPool(): { pool: pg.Pool; batches: string[][] } {
  const batches: string[][] = [];
  const pool = {
    query: (config: { name?: string; values?: unknown[] }) => {
      if (config.name === 'agentauth_issue_tokens') batches.push((JSON.parse(config.values![0] as string) as Array<{ jti: string }>).map((r) => r.jti));
      return db.pool.query(config as pg.QueryConfig);
    },
  } as unknown as pg.Pool;
  return { pool, batches };
}

function row(jti: string, overrides: Partial<IssuanceRow['record']> = {}): IssuanceRow {
  const now = Date.now();
  return {
    payload: { model: 'AccessToken', id: `stored-${jti}`, value: { jti, kind: 'AccessToken' }, grantId: null, userCode: null, uid: null, expiresAt: new Date(now + 300_000).toISOString() },
    record: {
      jti, kind: 'access_token', format: 'jwt', parentJti: null, subject: 'app-1', subjectKind: 'app', actorChain: [], clientId: 'app-1',
      scopes: ['files:read'], audience: 'https://api.example.test', resource: 'https://api.example.test', grantType: 'client_credentials',
      grantId: null, approvalId: null, dpopJkt: null, issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + 300_000).toISOString(), decision: null,
      ...overrides,
    },
    event: {
      action: 'token.issued', outcome: 'success', actorKind: 'app', actorId: 'app-1', userId: null, agentId: null, actorChain: [], clientId: 'app-1',
      requestId: null, ip: null, details: { jti },
    },
  };
}

async function committed(jti: string): Promise<{ records: number; events: number; payloads: number }> {
  const { rows } = await reader.query<{ records: number; events: number; payloads: number }>(
    `SELECT (SELECT count(*)::int FROM issued_tokens WHERE jti = $1) AS records,
            (SELECT count(*)::int FROM audit_events WHERE details->>'jti' = $1) AS events,
            (SELECT count(*)::int FROM oidc_payloads WHERE id = 'stored-' || $1) AS payloads`,
    [jti],
  );
  return rows[0]!;
}

it('commits the issuances of concurrent callers in shared statements, each visible to another connection once its caller resolves', async () => {
  const { pool, batches } = observedPool();
  const store = createIssuedTokenStore(pool, { maxBatch: 16, maxInFlight: 1 });
  const jtis = Array.from({ length: 40 }, () => randomUUID());
  const seen = await Promise.all(jtis.map((jti) => store.record(row(jti)).then(() => committed(jti))));
  for (const counts of seen) expect(counts).toEqual({ records: 1, events: 1, payloads: 1 });
  expect(batches.flat().sort()).toEqual([...jtis].sort());
  expect(batches.length).toBeLessThan(jtis.length);
  expect(Math.max(...batches.map((b) => b.length))).toBeGreaterThan(1);
});

it('fails only the caller whose row fails; the rest of its batch is committed row by row', async () => {
  const { pool, batches } = observedPool();
  const store = createIssuedTokenStore(pool, { maxBatch: 32, maxInFlight: 1 });
  const jtis = Array.from({ length: 20 }, () => randomUUID());
  const bad = jtis[7]!;
  // The first statement goes out alone; the other rows queue behind it and travel together, the bad one among them.
  const outcomes = await Promise.allSettled(jtis.map((jti) => store.record(row(jti, jti === bad ? { kind: 'not_a_token_kind' as 'access_token' } : {}))));
  expect(outcomes.map((o) => o.status)).toEqual(jtis.map((jti) => (jti === bad ? 'rejected' : 'fulfilled')));
  expect(batches.some((batch) => batch.length > 1 && batch.includes(bad))).toBe(true);
  for (const jti of jtis) {
    expect(await committed(jti)).toEqual(jti === bad ? { records: 0, events: 0, payloads: 0 } : { records: 1, events: 1, payloads: 1 });
  }
});

it('writes one issuance event per token even when the same token is saved twice', async () => {
  const store = createIssuedTokenStore(db.pool);
  const jti = randomUUID();
  await store.record(row(jti));
  await store.record(row(jti));
  expect(await committed(jti)).toEqual({ records: 1, events: 1, payloads: 1 });
});

it('answers concurrent record lookups each with its own record, revoked state included, and unknown jtis with nothing', async () => {
  const store = createIssuedTokenStore(db.pool, { maxBatch: 8, maxInFlight: 1 });
  const jtis = Array.from({ length: 12 }, () => randomUUID());
  await Promise.all(jtis.map((jti, i) => store.record(row(jti, { subject: `app-${i}` }))));
  await reader.query('UPDATE issued_tokens SET revoked_at = now() WHERE jti = $1', [jtis[3]]);
  const unknown = randomUUID();
  const found = await Promise.all([...jtis, unknown].map((jti) => store.find(jti)));
  jtis.forEach((jti, i) => {
    expect(found[i]).toMatchObject({ jti, subject: `app-${i}`, kind: 'access_token', scopes: ['files:read'], actorChain: [] });
    expect(found[i]!.revokedAt !== null).toBe(i === 3);
  });
  expect(found[jtis.length]).toBeUndefined();
});
