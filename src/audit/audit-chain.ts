// Tamper evidence for the audit log without a lock on the hot path. Writers only INSERT (seq comes from a
// sequence); a background step, run by one server at a time (advisory lock), chains the committed events in seq
// order with an HMAC keyed from the KEK, and writes signed checkpoints. `verify` recomputes the chain and names the
// first event that was edited, deleted, moved or inserted, and a tail cut off before the newest checkpoint.
//
// Why a grace period: sequence values are taken at INSERT, commits happen later and in any order, and a rolled-back
// transaction leaves a hole forever. The chainer therefore links only a contiguous prefix; a hole is declared
// "skipped" (and linked as such, so verification can tell it from a deleted event) only once the event after it is
// older than the grace period. occurred_at is its transaction's start, so the grace period must be at least twice the
// longest transaction that writes audit events (the default, 120 s, against transaction timeouts of at most 30 s).
//
// Checkpoints are signed with an HMAC key derived from the KEK rather than the token signing key: signing keys are
// rotated and retired ones deleted, so an old checkpoint could no longer be verified; the KEK outlives them. The
// price: verifying needs the KEK (run `agentauth audit verify` with the server's environment).
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { PrismaClient } from '../db/client.js';
import type pg from 'pg';
import type { Prisma } from '../../generated/prisma/client.js';
import type { Logger } from '../observability/logger.js';

/** Serialises chaining and audit retention across processes; never taken on the token path. */
const CHAIN_LOCK = 0x61676163; // "agac"
/** Exported with the link and checkpoint functions below so the benchmark seeds a chain in exactly this format. */
export const GENESIS = 'agentauth-audit-genesis';
const BATCH = 1_000;
/**
 * Events the chainer reads and links between two turns of the event loop. It runs in the serving process: linking a
 * 1,000-event batch in one go held the token endpoint's requests for tens of milliseconds every pass (the bench's
 * exchange p99 was 179 ms with it, 84 ms without it); slices this size keep each hold to a few milliseconds.
 */
const CHAIN_SLICE = 100;
/** Events one pass links at most: a backlog is worked off over several short transactions, not one long one. */
const MAX_PER_PASS = 20_000;

export type AuditChainKeys = { chain: Buffer; checkpoint: Buffer };

export function deriveAuditKeys(kek: Buffer): AuditChainKeys {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), info, 32));
  return { chain: derive('agentauth audit chain v1'), checkpoint: derive('agentauth audit checkpoint v1') };
}

export type EventRow = {
  seq: bigint;
  id: string;
  occurredAt: Date;
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
  details: unknown;
};

/**
 * JSON with object keys sorted at every level (by UTF-16 code units, Array.prototype.sort's default order), members
 * whose value is undefined left out: the bytes an HMAC is computed over must not depend on key order. Every chain
 * ever written was linked over these bytes, so they never change (test/audit/audit-chain.test.ts holds a reference).
 * Built as one string without intermediate arrays: the chainer runs this for every event the server writes.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((value as { toJSON(): unknown }).toJSON());
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i += 1) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = '{';
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `${out}}`;
}

function eventBytes(event: EventRow): string {
  return canonicalJson({
    seq: event.seq.toString(),
    id: event.id,
    occurred_at: event.occurredAt.toISOString(),
    action: event.action,
    outcome: event.outcome,
    actor_kind: event.actorKind,
    actor_id: event.actorId,
    user_id: event.userId,
    agent_id: event.agentId,
    actor_chain: event.actorChain ?? null,
    client_id: event.clientId,
    request_id: event.requestId,
    ip: event.ip,
    details: event.details,
  });
}

const mac = (key: Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest('base64url');
export const linkHmac = (keys: AuditChainKeys, previous: string, event: EventRow) => mac(keys.chain, `${previous}\n${eventBytes(event)}`);
const skippedHmac = (keys: AuditChainKeys, previous: string, seq: bigint) => mac(keys.chain, `${previous}\n${canonicalJson({ seq: seq.toString(), skipped: true })}`);

export type CheckpointFields = { lastSeq: bigint; chainHmac: string; anchor: boolean; createdAt: Date };
export const checkpointSignature = (keys: AuditChainKeys, c: CheckpointFields) =>
  mac(keys.checkpoint, canonicalJson({ last_seq: c.lastSeq.toString(), chain_hmac: c.chainHmac, anchor: c.anchor, created_at: c.createdAt.toISOString() }));

function sameMac(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

type Tx = Prisma.TransactionClient;

/** The chain lock, held to the end of the transaction; the chainer (pg) and retention (Prisma) take the same one. */
const TRY_CHAIN_LOCK = 'SELECT pg_try_advisory_xact_lock($1) AS locked';

async function tryChainLock(tx: Tx): Promise<boolean> {
  const [row] = await tx.$queryRawUnsafe<Array<{ locked: boolean }>>(TRY_CHAIN_LOCK, CHAIN_LOCK);
  return row?.locked === true;
}

/** Where the chain stands: the last link, or the anchor checkpoint, or the genesis. */
async function chainHead(client: pg.PoolClient): Promise<{ seq: bigint; hmac: string }> {
  const { rows: [last] } = await client.query<{ seq: string; hmac: string }>('SELECT seq, hmac FROM audit_chain ORDER BY seq DESC LIMIT 1');
  if (last) return { seq: BigInt(last.seq), hmac: last.hmac };
  const { rows: [anchor] } = await client.query<{ last_seq: string; chain_hmac: string }>(
    'SELECT last_seq, chain_hmac FROM audit_checkpoints WHERE anchor ORDER BY last_seq DESC LIMIT 1',
  );
  return anchor ? { seq: BigInt(anchor.last_seq), hmac: anchor.chain_hmac } : { seq: 0n, hmac: GENESIS };
}

/**
 * The events after `seq`, as the chain reads them: the shape `verify` reads through Prisma (occurred_at at its stored
 * millisecond precision, the JSON columns parsed from PostgreSQL's own text of them), but for seq, which pg hands over
 * as text.
 */
const EVENTS_AFTER = `
  SELECT seq, id::text AS id, occurred_at AS "occurredAt", action, outcome, actor_kind AS "actorKind", actor_id AS "actorId",
         user_id AS "userId", agent_id AS "agentId", actor_chain AS "actorChain", client_id AS "clientId",
         request_id AS "requestId", ip, details
  FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`;

type Link = { seq: bigint; eventId: string | null; skipped: boolean; hmac: string };

export type ChainResult = { linked: number; skipped: number; lastSeq: bigint; locked: boolean };

/**
 * One chaining pass: links the committed events after the head, up to the first hole younger than `graceMs`, and
 * writes a checkpoint if the chain advanced. Answers `locked: false` when another process is chaining right now.
 * Runs on the pg pool with plain statements rather than through Prisma: it reads every event ever written, so its
 * cost grows with the token endpoint's rate, and Prisma's row conversion was most of it in the token endpoint's profiles.
 */
export async function chainAuditEvents(pool: pg.Pool, keys: AuditChainKeys, options: { graceMs: number }): Promise<ChainResult> {
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query('BEGIN');
    // A pass that hangs must not hold the lock (and a connection) for ever.
    await client.query("SET LOCAL statement_timeout = '60s'");
    const { rows: [lock] } = await client.query<{ locked: boolean }>(TRY_CHAIN_LOCK, [CHAIN_LOCK]);
    if (lock?.locked !== true) {
      await client.query('ROLLBACK');
      return { linked: 0, skipped: 0, lastSeq: -1n, locked: false };
    }
    let { seq: headSeq, hmac: headHmac } = await chainHead(client);
    // The database's clock, the one occurred_at was written with.
    const { rows: [clock] } = await client.query<{ now: Date }>('SELECT now() AS now');
    const now = clock!.now;
    const cutoff = now.getTime() - options.graceMs;
    let linked = 0;
    let skipped = 0;
    const links: Link[] = [];
    for (;;) {
      const { rows } = await client.query<Omit<EventRow, 'seq'> & { seq: string }>({
        name: 'agentauth_audit_events_after', text: EVENTS_AFTER, values: [headSeq.toString(), CHAIN_SLICE],
      });
      if (rows.length === 0) break;
      let stopped = false;
      for (const row of rows) {
        const event: EventRow = { ...row, seq: BigInt(row.seq) };
        if (event.seq > headSeq + 1n) {
          // A hole: an uncommitted transaction may still hold it, unless the event after it is old enough.
          if (event.occurredAt.getTime() > cutoff) {
            stopped = true;
            break;
          }
          for (let hole = headSeq + 1n; hole < event.seq; hole += 1n) {
            headHmac = skippedHmac(keys, headHmac, hole);
            links.push({ seq: hole, eventId: null, skipped: true, hmac: headHmac });
            skipped += 1;
          }
        }
        headHmac = linkHmac(keys, headHmac, event);
        headSeq = event.seq;
        links.push({ seq: event.seq, eventId: event.id, skipped: false, hmac: headHmac });
        linked += 1;
      }
      if (stopped || rows.length < CHAIN_SLICE || links.length >= MAX_PER_PASS) break;
      // Let the requests that arrived meanwhile run before the next slice.
      await nextTurn();
    }
    if (links.length > 0) {
      await client.query(
        `INSERT INTO audit_chain (seq, event_id, skipped, hmac)
         SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::boolean[], $4::text[])`,
        [links.map((l) => l.seq.toString()), links.map((l) => l.eventId), links.map((l) => l.skipped), links.map((l) => l.hmac)],
      );
      const fields = { lastSeq: headSeq, chainHmac: headHmac, anchor: false, createdAt: new Date(now.getTime()) };
      await client.query(
        'INSERT INTO audit_checkpoints (last_seq, chain_hmac, anchor, signature, created_at) VALUES ($1, $2, false, $3, $4)',
        [headSeq.toString(), headHmac, checkpointSignature(keys, fields), fields.createdAt],
      );
    }
    await client.query('COMMIT');
    return { linked, skipped, lastSeq: headSeq, locked: true };
  } catch (error) {
    failed = true;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    // After a failure the connection is closed rather than reused: its rollback may not have run.
    client.release(failed);
  }
}

export type RetentionOptions = {
  /** Audit events older than this many days are deleted (whole checkpointed prefixes only); 0 keeps them forever. */
  auditDays: number;
  /** Token records expired for longer than this many days are deleted; 0 keeps them forever. */
  tokenDays: number;
};

export type RetentionResult = { auditEvents: number; tokenRecords: number; securityEvents: number; anchorSeq: bigint | null };

/**
 * Deletes old audit events, but only a prefix that ends at a checkpoint, so what remains still verifies: that
 * checkpoint becomes the (re-signed) anchor where verification starts. Also deletes long-expired token records and
 * delivered security events.
 */
export async function applyRetention(prisma: PrismaClient, keys: AuditChainKeys, options: RetentionOptions): Promise<RetentionResult> {
  return prisma.$transaction(
    async (tx) => {
      const result: RetentionResult = { auditEvents: 0, tokenRecords: 0, securityEvents: 0, anchorSeq: null };
      if (!(await tryChainLock(tx))) return result;
      const day = 86_400_000;
      if (options.tokenDays > 0) {
        const before = new Date(Date.now() - options.tokenDays * day);
        result.tokenRecords = (await tx.issuedToken.deleteMany({ where: { expiresAt: { lt: before } } })).count;
        result.securityEvents = (await tx.securityEvent.deleteMany({ where: { createdAt: { lt: before } } })).count;
      }
      if (options.auditDays > 0) {
        const cutoff = new Date(Date.now() - options.auditDays * day);
        // The prefix ends before the first event that must be kept (occurred_at is not strictly ordered by seq).
        const firstKept = await tx.auditEvent.findFirst({ where: { occurredAt: { gte: cutoff } }, orderBy: { seq: 'asc' }, select: { seq: true } });
        const checkpoint = await tx.auditCheckpoint.findFirst({
          where: firstKept ? { lastSeq: { lt: firstKept.seq } } : {},
          orderBy: { lastSeq: 'desc' },
        });
        if (checkpoint && !checkpoint.anchor) {
          result.auditEvents = (await tx.auditEvent.deleteMany({ where: { seq: { lte: checkpoint.lastSeq } } })).count;
          await tx.auditChainLink.deleteMany({ where: { seq: { lte: checkpoint.lastSeq } } });
          await tx.auditCheckpoint.deleteMany({ where: { lastSeq: { lt: checkpoint.lastSeq } } });
          const fields = { lastSeq: checkpoint.lastSeq, chainHmac: checkpoint.chainHmac, anchor: true, createdAt: checkpoint.createdAt };
          await tx.auditCheckpoint.update({ where: { id: checkpoint.id }, data: { anchor: true, signature: checkpointSignature(keys, fields) } });
          result.anchorSeq = checkpoint.lastSeq;
        }
      }
      return result;
    },
    { maxWait: 10_000, timeout: 120_000 },
  );
}

export type VerifyProblem = {
  kind: 'edited' | 'deleted' | 'reordered' | 'inserted' | 'truncated' | 'checkpoint';
  /** The first seq affected. */
  seq: bigint;
  message: string;
};

export type VerifyReport = {
  ok: boolean;
  /** The first problem found (verification stops there). */
  problem: VerifyProblem | null;
  /** Seq verification started after (0, or the anchor checkpoint's). */
  fromSeq: bigint;
  /** The last seq the chain covers and that verified. */
  verifiedThrough: bigint;
  eventsVerified: number;
  checkpoints: number;
  /** Committed events not yet chained (newer than the last chaining pass): not covered by this report. */
  unchained: number;
};

/** Recomputes the chain over a consistent snapshot and reports the first discrepancy. */
export async function verifyAuditChain(prisma: PrismaClient, keys: AuditChainKeys): Promise<VerifyReport> {
  return prisma.$transaction(
    async (tx) => {
      const checkpoints = await tx.auditCheckpoint.findMany({ orderBy: { lastSeq: 'asc' } });
      const report: VerifyReport = { ok: true, problem: null, fromSeq: 0n, verifiedThrough: 0n, eventsVerified: 0, checkpoints: checkpoints.length, unchained: 0 };
      const fail = (problem: VerifyProblem) => ({ ...report, ok: false, problem });
      for (const c of checkpoints) {
        if (!sameMac(checkpointSignature(keys, c), c.signature)) {
          return fail({ kind: 'checkpoint', seq: c.lastSeq, message: `checkpoint at seq ${c.lastSeq} has an invalid signature (edited or forged)` });
        }
      }
      const anchor = checkpoints[0]?.anchor ? checkpoints[0] : undefined;
      let previous = anchor ? anchor.chainHmac : GENESIS;
      let expected = (anchor ? anchor.lastSeq : 0n) + 1n;
      report.fromSeq = expected - 1n;
      const bySeq = new Map(checkpoints.map((c) => [c.lastSeq, c]));

      for (;;) {
        const links = await tx.auditChainLink.findMany({ where: { seq: { gte: expected } }, orderBy: { seq: 'asc' }, take: BATCH });
        if (links.length === 0) break;
        const last = links[links.length - 1]!.seq;
        const events = (await tx.auditEvent.findMany({ where: { seq: { gte: expected, lte: last } }, orderBy: { seq: 'asc' } })) as EventRow[];
        const eventAt = new Map(events.map((e) => [e.seq, e]));
        for (const link of links) {
          if (link.seq !== expected) {
            return fail({ kind: 'deleted', seq: expected, message: `seq ${expected} is missing from the chain (event deleted with its link)` });
          }
          const event = eventAt.get(link.seq);
          if (link.skipped) {
            if (event) return fail({ kind: 'inserted', seq: link.seq, message: `event ${event.id} at seq ${link.seq} was never chained: seq ${link.seq} was recorded as skipped` });
            const hmac = skippedHmac(keys, previous, link.seq);
            if (!sameMac(hmac, link.hmac)) return fail({ kind: 'edited', seq: link.seq, message: `the chain link for skipped seq ${link.seq} does not verify` });
            previous = hmac;
          } else {
            if (!event) return fail({ kind: 'deleted', seq: link.seq, message: `event ${link.eventId} at seq ${link.seq} was deleted` });
            if (event.id !== link.eventId) {
              return fail({ kind: 'reordered', seq: link.seq, message: `seq ${link.seq} holds event ${event.id}, but the chain recorded event ${link.eventId} there (events moved or replaced)` });
            }
            const hmac = linkHmac(keys, previous, event);
            if (!sameMac(hmac, link.hmac)) return fail({ kind: 'edited', seq: link.seq, message: `event ${event.id} at seq ${link.seq} was edited after it was written` });
            previous = hmac;
            report.eventsVerified += 1;
          }
          const checkpoint = bySeq.get(link.seq);
          if (checkpoint && !sameMac(checkpoint.chainHmac, previous)) {
            return fail({ kind: 'checkpoint', seq: link.seq, message: `the chain at seq ${link.seq} does not match its checkpoint` });
          }
          report.verifiedThrough = link.seq;
          expected = link.seq + 1n;
        }
      }
      const newest = checkpoints.at(-1);
      if (newest && newest.lastSeq > report.verifiedThrough) {
        return fail({
          kind: 'truncated',
          seq: report.verifiedThrough + 1n,
          message: `the log was truncated: the newest checkpoint covers seq ${newest.lastSeq}, the chain ends at seq ${report.verifiedThrough}`,
        });
      }
      report.unchained = await tx.auditEvent.count({ where: { seq: { gt: report.verifiedThrough } } });
      return report;
    },
    { isolationLevel: 'RepeatableRead', maxWait: 10_000, timeout: 600_000 },
  );
}

export type AuditChainer = { runOnce(): Promise<void>; close(): Promise<void> };

/** The background step every server runs; whichever holds the lock chains, the others skip the pass. */
export function startAuditChainer(options: {
  prisma: PrismaClient;
  /** Chaining runs on the pool; retention, rare and set-based, through Prisma. */
  pool: pg.Pool;
  keys: AuditChainKeys;
  log: Logger;
  intervalMs: number;
  graceMs: number;
  retention: RetentionOptions;
  retentionIntervalMs: number;
}): AuditChainer {
  const log = options.log.child({ component: 'audit-chainer' });
  let running: Promise<void> | undefined;
  let lastRetention = 0;
  const pass = async () => {
    try {
      const result = await chainAuditEvents(options.pool, options.keys, { graceMs: options.graceMs });
      if (result.linked + result.skipped > 0) {
        // The log line is an external witness of the newest checkpoint: truncating the database cannot erase it.
        log.info({ lastSeq: result.lastSeq.toString(), linked: result.linked, skipped: result.skipped }, 'audit chain advanced');
      }
      if (Date.now() - lastRetention >= options.retentionIntervalMs) {
        lastRetention = Date.now();
        const pruned = await applyRetention(options.prisma, options.keys, options.retention);
        if (pruned.auditEvents + pruned.tokenRecords + pruned.securityEvents > 0) {
          log.info({ ...pruned, anchorSeq: pruned.anchorSeq?.toString() }, 'retention deleted old audit events and token records');
        }
      }
    } catch (error) {
      log.warn({ err: error }, 'audit chaining failed; retrying at the next pass');
    }
  };
  const runOnce = () => {
    running ??= pass().finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(() => void runOnce(), options.intervalMs);
  timer.unref();
  return {
    runOnce,
    async close() {
      clearInterval(timer);
      await running;
    },
  };
}
