// The settings of the server's database connections, read back from PostgreSQL through both ways the server talks
// to it (Prisma and the pool's own statements on the token endpoint): JIT compilation is off, because on a large
// database the kill switch's set-based revocation crossed PostgreSQL's JIT cost thresholds and spent over a second
// compiling (src/db/client.ts).
import { connectDatabase, type Database } from '../../src/db/client.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await createTestDatabase();
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
