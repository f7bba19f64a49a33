// The database migrations: prisma/migrations applies to an empty database in-process (as at startup), the Prisma
// CLI agrees with the result through prisma/engine/schema-engine.mjs, the migrations match prisma/schema.prisma,
// and the throw-away shadow databases the engine needs are gone afterwards.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHADOW_DATABASE_PREFIX } from '../../prisma/engine/engine.mjs';
import { applyMigrations, MIGRATION_LOCK_NAME } from '../../src/db/migrate.js';
import { databaseUrl, withServerClient } from '../support/postgres-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const migrationsDir = path.join(root, 'prisma', 'migrations');
// The suite's server (global setup picks DATABASE_URL or an embedded one), else DATABASE_URL, else the local one.
const serverUrl =
  process.env.AGENTAUTH_TEST_SERVER_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const prefix = process.env.AGENTAUTH_TEST_DB_PREFIX ?? 'agentauth_migrations_test_';
const quiet = { info: () => {} };

// Each Prisma CLI run takes about 3 s.
const TIMEOUT = 60_000;

const created: string[] = [];

async function createEmptyDatabase(): Promise<string> {
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
  await withServerClient(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  created.push(name);
  return databaseUrl(serverUrl, name);
}

afterEach(async () => {
  const names = created.splice(0);
  await withServerClient(serverUrl, async (client) => {
    for (const name of names) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
});

async function query<T>(url: string, sql: string): Promise<T[]> {
  return withServerClient(url, async (client) => (await client.query(sql)).rows as T[]);
}

async function migrationNames(): Promise<string[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

type MigrationRow = { migration_name: string; checksum: string; finished_at: Date | null; rolled_back_at: Date | null };
const history = (url: string) =>
  query<MigrationRow>(url, 'SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY migration_name');

/** Runs the Prisma CLI as a developer or CI would, against `url`. */
function prisma(args: string[], url: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, 'node_modules', 'prisma', 'build', 'index.js'), ...args],
      { cwd: root, env: { ...process.env, DATABASE_URL: url, CHECKPOINT_DISABLE: '1' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

const driftCheck = (schema: string, url: string) =>
  prisma(['migrate', 'diff', '--from-migrations', migrationsDir, '--to-schema', schema, '--exit-code'], url);

describe('database migrations', () => {
  it('apply to an empty database, recording the sha256 of each migration.sql', async () => {
    const url = await createEmptyDatabase();
    const names = await migrationNames();
    expect(names.length).toBeGreaterThan(0);

    const { applied } = await applyMigrations(url, quiet);

    expect(applied).toEqual(names);
    const expected = await Promise.all(
      names.map(async (name) => ({
        migration_name: name,
        checksum: createHash('sha256')
          .update(await readFile(path.join(migrationsDir, name, 'migration.sql')))
          .digest('hex'),
        finished_at: expect.any(Date),
        rolled_back_at: null,
      })),
    );
    expect(await history(url)).toEqual(expected);
  }, TIMEOUT);

  it('are reported pending by `prisma migrate status` before, and up to date after', async () => {
    const url = await createEmptyDatabase();
    const names = await migrationNames();

    const before = await prisma(['migrate', 'status'], url);
    expect(before.code).toBe(1);
    expect(before.output).toContain('not yet been applied');
    for (const name of names) expect(before.output).toContain(name);

    await applyMigrations(url, quiet);

    const after = await prisma(['migrate', 'status'], url);
    expect(after).toEqual({ code: 0, output: expect.stringContaining('Database schema is up to date!') });
  }, TIMEOUT);

  it('build exactly prisma/schema.prisma, and the drift check fails (exit 2) on a schema with one more model', async () => {
    const url = await createEmptyDatabase();
    const schemaPath = path.join(root, 'prisma', 'schema.prisma');

    expect(await driftCheck(schemaPath, url)).toEqual({ code: 0, output: expect.stringContaining('No difference detected') });

    const dir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-drift-'));
    try {
      const changed = path.join(dir, 'schema.prisma');
      await writeFile(changed, `${await readFile(schemaPath, 'utf8')}\nmodel DriftProbe {\n  id Int @id\n}\n`);
      const drift = await driftCheck(changed, url);
      expect(drift.code).toBe(2);
      expect(drift.output).toContain('DriftProbe');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    // The database the migrations built, introspected, is the schema too.
    await applyMigrations(url, quiet);
    const applied = await prisma(['migrate', 'diff', '--from-config-datasource', '--to-schema', schemaPath, '--exit-code'], url);
    expect(applied).toEqual({ code: 0, output: expect.stringContaining('No difference detected') });
  }, TIMEOUT);

  it('are applied once when two processes start at the same time on an empty database', async () => {
    const url = await createEmptyDatabase();
    const names = await migrationNames();

    const [first, second] = await Promise.all([applyMigrations(url, quiet), applyMigrations(url, quiet)]);

    expect([...first.applied, ...second.applied].sort()).toEqual(names);
    expect([first.applied.length, second.applied.length].sort()).toEqual([0, names.length]);
    expect((await history(url)).map((row) => row.migration_name)).toEqual(names);
  }, TIMEOUT);

  it('wait while another process holds the migration lock', async () => {
    const url = await createEmptyDatabase();
    const names = await migrationNames();

    const outcome = await withServerClient(url, async (client) => {
      await client.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK_NAME]);
      const waiting = applyMigrations(url, quiet);
      // Longer than a run takes (about 0.3 s); a migration may take longer than the engine's own lock waits (10 s).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const { rows } = await client.query(`SELECT to_regclass('_prisma_migrations') IS NULL AS untouched`);
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK_NAME]);
      return { untouched: rows[0].untouched as boolean, result: await waiting };
    });

    expect(outcome).toEqual({ untouched: true, result: { applied: names } });
  }, TIMEOUT);

  it('apply nothing the second time, leaving the history as it was', async () => {
    const url = await createEmptyDatabase();
    await applyMigrations(url, quiet);
    const before = await history(url);

    expect(await applyMigrations(url, quiet)).toEqual({ applied: [] });
    expect(await history(url)).toEqual(before);
  }, TIMEOUT);

  it('leave no throw-away shadow database behind', async () => {
    const url = await createEmptyDatabase();

    expect((await driftCheck(path.join(root, 'prisma', 'schema.prisma'), url)).code).toBe(0);

    const shadows = await query<{ datname: string }>(
      url,
      `SELECT datname FROM pg_database WHERE starts_with(datname, '${SHADOW_DATABASE_PREFIX}')`,
    );
    expect(shadows).toEqual([]);
  }, TIMEOUT);
});
