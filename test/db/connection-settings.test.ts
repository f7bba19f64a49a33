// The settings of the server's database connections, read back from PostgreSQL through both ways the server talks
// to it (Prisma and the pool's own statements on the token endpoint): JIT compilation is off, because on a large
// database the kill switch's set-based revocation crossed PostgreSQL's JIT cost thresholds and spent over a second
// compiling (src/db/client.ts); and sessions are in UTC, because Prisma's pg adapter reads a timestamptz as if it
// were (it replaces the offset with +00:00), so on a database whose time zone is another, Prisma would read every
// time shifted, and differently from pg: the audit chainer (pg) and `audit verify` (Prisma) must read the same.
import { randomBytes } from 'node:crypto';
import { chainAuditEvents, deriveAuditKeys, verifyAuditChain } from '../../src/audit/audit-chain.js';
import { connectDatabase, type Database } from '../../src/db/client.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  // An operator's database in a time zone with a half-hour offset: the sessions must not inherit it.
  const setup = connectDatabase(database.url, createLogger('silent'), 1);
  const { rows } = await setup.pool.query<{ db: string }>('SELECT current_database() AS db');
  await setup.pool.query(`ALTER DATABASE "${rows[0]!.db}" SET timezone = 'Asia/Kolkata'`);
  await setup.close();
  db = connectDatabase(database.url, createLogger('silent'), 4);
});

afterAll(async () => {
  await db.close();
  await database.drop();
});

it('runs without JIT compilation on every connection, through Prisma and through the pool', async () => {
  // reset_val: what the session goes back to on RESET, i.e. the connection's own startup setting (PostgreSQL's
  // default is on), not a SET that something ran since.
  const { rows: server } = await db.pool.query<{ setting: string }>(`SELECT reset_val AS setting FROM pg_settings WHERE name = 'jit'`);
  expect(server[0]!.setting).toBe('off');
  const viaPrisma = await db.prisma.$queryRaw<Array<{ jit: string }>>`SHOW jit`;
  expect(viaPrisma[0]!.jit).toBe('off');
  // Several connections at once: each was opened with the setting.
  const answers = await Promise.all(Array.from({ length: 4 }, () => db.pool.query<{ jit: string }>('SELECT pg_sleep(0.05), current_setting($1) AS jit', ['jit'])));
  expect(answers.map(({ rows }) => rows[0]!.jit)).toEqual(['off', 'off', 'off', 'off']);
  const { rows: application } = await db.pool.query<{ name: string }>('SELECT current_setting($1) AS name', ['application_name']);
  expect(application[0]!.name).toBe('agentauth');
});

it('reads times in UTC sessions even on a database whose time zone is another, so Prisma and pg read the same instant', async () => {
  const { rows: zone } = await db.pool.query<{ zone: string; database: string }>(
    `SELECT current_setting('TimeZone') AS zone, (SELECT s.setting FROM pg_db_role_setting r, unnest(r.setconfig) s(setting)
      WHERE r.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())) AS database`,
  );
  expect(zone[0]).toEqual({ zone: 'UTC', database: 'TimeZone=Asia/Kolkata' });
  const viaPrisma = await db.prisma.$queryRaw<Array<{ zone: string }>>`SELECT current_setting('TimeZone') AS zone`;
  expect(viaPrisma[0]!.zone).toBe('UTC');

  // The same stored instant, through both: what Prisma reads must be what pg reads and what was written.
  const written = new Date('2026-11-30T01:02:03.456Z');
  const { rows } = await db.pool.query<{ id: string; occurred_at: Date }>(
    `INSERT INTO audit_events (id, action, outcome, actor_kind, details, occurred_at) VALUES (gen_random_uuid(), 'test.time', 'success', 'system', '{}', $1)
     RETURNING id::text AS id, occurred_at`,
    [written],
  );
  expect(rows[0]!.occurred_at.toISOString()).toBe(written.toISOString());
  const read = await db.prisma.auditEvent.findUniqueOrThrow({ where: { id: rows[0]!.id } });
  expect(read.occurredAt.toISOString()).toBe(written.toISOString());

  // And so the chain the chainer links over pg's reading verifies over Prisma's.
  const keys = deriveAuditKeys(randomBytes(32));
  expect((await chainAuditEvents(db.pool, keys, { graceMs: 0 })).linked).toBe(1);
  expect(await verifyAuditChain(db.prisma, keys)).toMatchObject({ ok: true, eventsVerified: 1 });
});
