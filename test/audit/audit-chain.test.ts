// Tamper evidence of the audit log against a real database: the chainer links committed events in seq order, and
// verification (the function and `agentauth audit verify` as a process) names the first edited, deleted, reordered
// or inserted event and a truncated tail; rolled-back sequence values and retention keep an honest log verifiable.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { applyRetention, canonicalJson, chainAuditEvents, deriveAuditKeys, verifyAuditChain } from '../../src/audit/audit-chain.js';
import { recordAuditEvent } from '../../src/audit/audit-log.js';
import { connectDatabase, type Database } from '../../src/db/client.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';
import { startTestServer } from '../support/server.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const kek = randomBytes(32);
const keys = deriveAuditKeys(kek);
const opened: Array<{ database: TestDatabase; db: Database }> = [];

async function freshLog(events = 6): Promise<Database & { url: string }> {
  const database = await createTestDatabase();
  const db = connectDatabase(database.url, createLogger('silent'), 4);
  opened.push({ database, db });
  for (let i = 0; i < events; i += 1) await write(db, i);
  return { ...db, url: database.url };
}

const write = (db: Database, i: number) =>
  recordAuditEvent(db.prisma, {
    action: 'token.issued',
    outcome: 'success',
    actor: { kind: 'agent', id: `agent-${i}` },
    agentId: `agent-${i}`,
    actorChain: [{ sub: `agent-${i}`, kind: 'agent' }],
    details: { jti: `jti-${i}`, scopes: ['files:read'], nested: { b: 1, a: [i, 'x'] } },
  });

const chain = (db: Database, graceMs = 0) => chainAuditEvents(db.pool, keys, { graceMs });
/**
 * Changes rows the way an attacker with full database rights would: with triggers off (the append-only triggers
 * refuse an UPDATE otherwise).
 */
async function tamper(db: Database, sql: string): Promise<void> {
  const connection = await db.pool.connect();
  try {
    await connection.query('BEGIN');
    await connection.query('SET LOCAL session_replication_role = replica');
    await connection.query(sql);
    await connection.query('COMMIT');
  } finally {
    connection.release();
  }
}

const seqs = async (db: Database) => (await db.pool.query<{ seq: string }>('SELECT seq FROM audit_events ORDER BY seq')).rows.map((r) => BigInt(r.seq));

afterAll(async () => {
  for (const { database, db } of opened) {
    await db.close();
    await database.drop();
  }
});

describe('the bytes an event is linked over', () => {
  /** canonicalJson as the first chains were written with it: its output may never change. */
  const reference = (value: unknown): string => {
    if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
    if (value instanceof Date) return JSON.stringify(value.toISOString());
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return reference((value as { toJSON(): unknown }).toJSON());
    if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
  };

  it('are canonical JSON: keys sorted at every level, undefined members left out, dates as ISO strings', () => {
    expect(canonicalJson({ b: 1, a: [{ d: undefined, c: 'é"\n' }, null, undefined], ä: true, Z: new Date(0), e: {} })).toBe(
      '{"Z":"1970-01-01T00:00:00.000Z","a":[{"c":"é\\"\\n"},null,null],"b":1,"e":{},"ä":true}',
    );
  });

  it('are the same bytes the first chains were linked over, for any JSON value', () => {
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const keyChars = ['a', 'B', 'z', '_', '1', 'é', '\u{1F600}', '"', ' '];
    const value = (depth: number): unknown => {
      const pick = Math.floor(random() * (depth > 3 ? 5 : 8));
      if (pick === 0) return null;
      if (pick === 1) return random() < 0.5;
      if (pick === 2) return Math.floor(random() * 1e6) / 100;
      if (pick === 3) return Array.from({ length: Math.floor(random() * 4) }, () => keyChars[Math.floor(random() * keyChars.length)]).join('');
      if (pick === 4) return undefined;
      if (pick === 5) return new Date(Math.floor(random() * 2e12));
      if (pick === 6) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
      const object: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 5); i > 0; i -= 1) {
        object[Array.from({ length: 1 + Math.floor(random() * 3) }, () => keyChars[Math.floor(random() * keyChars.length)]).join('')] = value(depth + 1);
      }
      return object;
    };
    for (let i = 0; i < 3000; i += 1) {
      const sample = value(0);
      expect(canonicalJson(sample)).toBe(reference(sample));
    }
  });
});

describe('an honest log', () => {
  it('chains every committed event once, writes a signed checkpoint, and verifies', async () => {
    const db = await freshLog(5);
    expect(await chain(db)).toMatchObject({ linked: 5, skipped: 0, lastSeq: 5n, locked: true });
    await write(db, 5);
    expect(await chain(db)).toMatchObject({ linked: 1, lastSeq: 6n });
    expect(await chain(db)).toMatchObject({ linked: 0 });
    const report = await verifyAuditChain(db.prisma, keys);
    expect(report).toMatchObject({ ok: true, problem: null, verifiedThrough: 6n, eventsVerified: 6, checkpoints: 2, unchained: 0 });
  });

  it('links a backlog of several slices in one pass (it yields between slices), in seq order, and verifies', async () => {
    const db = await freshLog(0);
    // 257 events written in one statement: the chainer reads them in slices of 100 and must carry the head across.
    await db.pool.query(`
      INSERT INTO audit_events (id, action, outcome, actor_kind, actor_id, agent_id, details)
      SELECT gen_random_uuid(), 'token.issued', 'success', 'agent', 'agent-' || i, 'agent-' || i, jsonb_build_object('jti', 'jti-' || i)
      FROM generate_series(1, 257) AS i`);
    expect(await chain(db)).toMatchObject({ linked: 257, skipped: 0, lastSeq: 257n, locked: true });
    const { rows } = await db.pool.query<{ links: number; ordered: boolean }>(
      'SELECT count(*)::int AS links, bool_and(l.event_id = e.id) AS ordered FROM audit_chain l JOIN audit_events e USING (seq)');
    expect(rows[0]).toEqual({ links: 257, ordered: true });
    expect(await verifyAuditChain(db.prisma, keys)).toMatchObject({ ok: true, verifiedThrough: 257n, eventsVerified: 257, unchained: 0 });
  });

  it('records a rolled-back sequence value as skipped once the grace period has passed, and still verifies', async () => {
    const db = await freshLog(2);
    // A transaction that takes seq 3 and rolls back: the hole is permanent.
    await db.prisma.$transaction(async (tx) => {
      await recordAuditEvent(tx, { action: 'login.failed', outcome: 'success', actor: { kind: 'system' } });
      throw new Error('roll back');
    }).catch(() => undefined);
    await write(db, 9);
    // Within the grace period the hole may be an uncommitted transaction: chaining stops before it.
    expect(await chain(db, 60_000)).toMatchObject({ linked: 2, skipped: 0, lastSeq: 2n });
    expect(await chain(db, 0)).toMatchObject({ linked: 1, skipped: 1, lastSeq: 4n });
    const link = await db.prisma.auditChainLink.findUnique({ where: { seq: 3n } });
    expect(link).toMatchObject({ skipped: true, eventId: null });
    expect(await verifyAuditChain(db.prisma, keys)).toMatchObject({ ok: true, verifiedThrough: 4n, eventsVerified: 3 });
  });

  it('lets only one process chain at a time (advisory lock) without duplicating links', async () => {
    const db = await freshLog(40);
    const other = connectDatabase((db as { url: string }).url, createLogger('silent'), 2);
    try {
      const results = await Promise.all([chain(db), chainAuditEvents(other.pool, keys, { graceMs: 0 }), chain(db)]);
      expect(results.reduce((n, r) => n + r.linked, 0)).toBe(40);
      expect(await db.prisma.auditChainLink.count()).toBe(40);
      expect(await verifyAuditChain(db.prisma, keys)).toMatchObject({ ok: true, eventsVerified: 40 });
    } finally {
      await other.close();
    }
  });

  it('a different KEK does not verify the chain', async () => {
    const db = await freshLog(2);
    await chain(db);
    expect((await verifyAuditChain(db.prisma, deriveAuditKeys(randomBytes(32)))).problem?.kind).toBe('checkpoint');
  });
});

describe('tampering', () => {
  it('the database refuses an UPDATE of an audit event or chain link outright', async () => {
    const db = await freshLog(1);
    await chain(db);
    await expect(db.pool.query(`UPDATE audit_events SET action = 'nothing' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(db.pool.query(`UPDATE audit_chain SET hmac = 'x' WHERE seq = 1`)).rejects.toThrow(/append-only/);
  });

  it('catches an edited event and names it', async () => {
    const db = await freshLog(6);
    await chain(db);
    await tamper(db, `UPDATE audit_events SET details = jsonb_set(details, '{scopes}', '["files:delete"]') WHERE seq = 4`);
    expect((await verifyAuditChain(db.prisma, keys)).problem).toMatchObject({ kind: 'edited', seq: 4n });
  });

  it('catches a deleted event, and a deleted event together with its chain link', async () => {
    const db = await freshLog(6);
    await chain(db);
    await db.pool.query('DELETE FROM audit_events WHERE seq = 3');
    expect((await verifyAuditChain(db.prisma, keys)).problem).toMatchObject({ kind: 'deleted', seq: 3n });
    await db.pool.query('DELETE FROM audit_chain WHERE seq = 3');
    expect((await verifyAuditChain(db.prisma, keys)).problem).toMatchObject({ kind: 'deleted', seq: 3n });
  });

  it('catches reordered events', async () => {
    const db = await freshLog(6);
    await chain(db);
    await tamper(db, 'UPDATE audit_events SET seq = -2 WHERE seq = 2');
    await tamper(db, 'UPDATE audit_events SET seq = 2 WHERE seq = 5');
    await tamper(db, 'UPDATE audit_events SET seq = 5 WHERE seq = -2');
    expect((await verifyAuditChain(db.prisma, keys)).problem).toMatchObject({ kind: 'reordered', seq: 2n });
  });

  it('catches an event inserted into a skipped seq', async () => {
    const db = await freshLog(1);
    await db.pool.query("SELECT nextval(pg_get_serial_sequence('audit_events', 'seq'))"); // seq 2 never commits
    await write(db, 2);
    await chain(db);
    await db.pool.query(`INSERT INTO audit_events (seq, id, action, outcome, actor_kind) VALUES (2, gen_random_uuid(), 'forged', 'success', 'admin')`);
    expect((await verifyAuditChain(db.prisma, keys)).problem).toMatchObject({ kind: 'inserted', seq: 2n });
  });

  it('catches a truncated tail (events and their links deleted) through the newest checkpoint', async () => {
    const db = await freshLog(4);
    await chain(db);
    await write(db, 4);
    await write(db, 5);
    await chain(db);
    await db.pool.query('DELETE FROM audit_events WHERE seq > 3');
    await db.pool.query('DELETE FROM audit_chain WHERE seq > 3');
    const report = await verifyAuditChain(db.prisma, keys);
    expect(report.problem).toMatchObject({ kind: 'truncated', seq: 4n });
    expect(report.problem?.message).toMatch(/seq 6/);
  });

  it('catches a forged checkpoint', async () => {
    const db = await freshLog(3);
    await chain(db);
    await db.pool.query('UPDATE audit_checkpoints SET last_seq = 2');
    expect((await verifyAuditChain(db.prisma, keys)).problem).toMatchObject({ kind: 'checkpoint' });
  });
});

describe('retention', () => {
  it('deletes only whole checkpointed prefixes older than the limit; what remains verifies from the anchor', async () => {
    const db = await freshLog(3);
    await chain(db);
    await write(db, 3);
    await chain(db);
    await write(db, 4); // not yet chained: never deleted, whatever its age
    await tamper(db, `UPDATE audit_events SET occurred_at = now() - interval '40 days' WHERE seq <= 4`);
    await db.pool.query(`INSERT INTO issued_tokens (jti, kind, format, subject, subject_kind, client_id, grant_type, issued_at, expires_at)
      VALUES ('old', 'access_token', 'jwt', 's', 'agent', 'c', 'client_credentials', now() - interval '41 days', now() - interval '40 days'),
             ('new', 'access_token', 'jwt', 's', 'agent', 'c', 'client_credentials', now(), now() + interval '1 hour')`);
    // The edits above changed chained events: retention must not care, verification would (and does, below).
    const result = await applyRetention(db.prisma, keys, { auditDays: 30, tokenDays: 7 });
    expect(result).toMatchObject({ auditEvents: 4, tokenRecords: 1, anchorSeq: 4n });
    expect(await seqs(db)).toEqual([5n]);
    expect((await db.prisma.issuedToken.findMany({ select: { jti: true } })).map((t) => t.jti)).toEqual(['new']);
    await write(db, 5);
    expect(await chain(db)).toMatchObject({ linked: 2, lastSeq: 6n });
    expect(await verifyAuditChain(db.prisma, keys)).toMatchObject({ ok: true, fromSeq: 4n, verifiedThrough: 6n, eventsVerified: 2 });
    // A second pass finds nothing older to delete: the anchor stays.
    expect((await applyRetention(db.prisma, keys, { auditDays: 30, tokenDays: 7 })).auditEvents).toBe(0);
    // Turning the anchor off (to make verification start at the genesis and hide the cut) breaks its signature.
    await db.pool.query('UPDATE audit_checkpoints SET anchor = false WHERE last_seq = 4');
    expect((await verifyAuditChain(db.prisma, keys)).problem).toMatchObject({ kind: 'checkpoint', seq: 4n });
  });
});

describe('the background chainer', () => {
  it('runs in every server: two servers on one database chain each event exactly once, and the log verifies', async () => {
    const database = await createTestDatabase();
    const env = { AGENTAUTH_AUDIT_CHAIN_INTERVAL_S: '1', AGENTAUTH_AUDIT_CHAIN_GRACE_S: '1' };
    const key = kek.toString('base64url');
    const [one, two] = await Promise.all([startTestServer({ database, env, kek: key }), startTestServer({ database, env, kek: key })]);
    try {
      for (let i = 0; i < 20; i += 1) await write(i % 2 ? one.db : two.db, i);
      // Besides these 20, the servers write events of their own (the bootstrap admin key).
      const events = await one.db.prisma.auditEvent.count();
      expect(events).toBeGreaterThanOrEqual(20);
      const linked = () => one.db.prisma.auditChainLink.count({ where: { skipped: false } });
      const deadline = Date.now() + 15_000;
      while ((await linked()) < events && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await linked()).toBe(events);
      expect(await one.db.prisma.auditCheckpoint.count()).toBeGreaterThan(0);
      expect(await verifyAuditChain(one.db.prisma, keys)).toMatchObject({ ok: true, eventsVerified: events, unchained: 0 });
    } finally {
      await Promise.all([one.stop(), two.stop()]);
      await database.drop();
    }
  }, 60_000);
});

describe('agentauth audit verify', () => {
  function cli(url: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'agentauth.mjs'), 'audit', 'verify', ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: url, AGENTAUTH_KEK: kek.toString('base64url'), LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('exits 0 on an intact log and non-zero naming the first tampered event', async () => {
    const db = await freshLog(5);
    const ok = await cli(db.url, ['--chain-first']);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toMatch(/verified 5 events[\s\S]*OK/);
    await tamper(db, `UPDATE audit_events SET actor_kind = 'human' WHERE seq = 2`);
    const failed = await cli(db.url, ['--json']);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ ok: false, problem: { kind: 'edited', seq: '2' }, verified_through: '1' });
    expect(failed.stderr).toMatch(/audit verification failed/);
  }, 60_000);
});
