// The one PostgreSQL connection pool of a process, shared by Prisma (all stores) and the health check.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../../generated/prisma/client.js';
import type { Logger } from '../observability/logger.js';

export { PrismaClient };

export type Database = {
  prisma: PrismaClient;
  pool: pg.Pool;
  /** Resolves when the database answers a trivial query within the timeout; rejects otherwise. */
  ping(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
};

export function connectDatabase(url: string, log: Logger, poolSize = 10): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'agentauth',
    // No JIT compilation: every statement here is short, and on a large database the planner's estimates for the
    // set-based ones (a kill switch revoking 10,000 tokens with their security events) crossed PostgreSQL's JIT
    // thresholds, whose compilation then took 1.06 s of a 2.38 s suspension (EXPLAIN ANALYZE, 1,000,000 records).
    // Sessions in UTC, whatever the server's or the database's default: Prisma's pg adapter reads a timestamptz by
    // replacing its offset with +00:00 (@prisma/adapter-pg, normalize_timestamptz), so in any other session time zone
    // every time Prisma read would be off by the offset, and would disagree with what pg itself reads.
    options: '-c jit=off -c TimeZone=UTC',
  });
  // An idle connection dying (database restart, network blip) must not crash the process: the pool drops that
  // connection and opens a new one on the next query. Once the pool is closing, a connection the server ends while
  // it is still being closed (the embedded PostgreSQL stopping right after) is expected, not worth a warning: pg-pool's
  // end() resolves before every socket is gone.
  let closing = false;
  pool.on('error', (error) => {
    if (!closing) log.warn({ err: error }, 'idle database connection lost');
  });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });

  return {
    prisma,
    pool,
    async ping(timeoutMs = 2_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([pool.query('SELECT 1'), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      closing = true;
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
