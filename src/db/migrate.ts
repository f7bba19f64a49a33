// Applies the pending migrations of prisma/migrations to a database, in-process, with the same engine and the same
// `_prisma_migrations` bookkeeping as `prisma migrate deploy`: Prisma's schema engine compiled to WebAssembly
// (prisma/engine/engine.mjs), so neither the Prisma CLI nor a native engine is needed at runtime.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { MigrationDirectory, MigrationList } from '@prisma/schema-engine-wasm';
import pg from 'pg';
import type * as SchemaEngineModule from '../../prisma/engine/engine.mjs';

/** The advisory lock a migration run holds is keyed `hashtext(MIGRATION_LOCK_NAME)`. */
export const MIGRATION_LOCK_NAME = 'agentauth migrations';

// The project root holds package.json, prisma/schema.prisma and prisma/migrations, whether this file runs from
// src/ (tests) or from dist/src/ (the build).
function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

/** The migrations directory as the engine takes it, read the way the Prisma CLI reads it. */
async function readMigrations(directory: string): Promise<MigrationList> {
  const lockfile = await readFile(path.join(directory, 'migration_lock.toml'), 'utf8').catch(() => null);
  const entries = await readdir(directory, { withFileTypes: true });
  const migrationDirectories = await Promise.all(
    entries
      .filter((entry) => entry.isDirectory())
      .map(async ({ name }): Promise<MigrationDirectory> => {
        const content = await readFile(path.join(directory, name, 'migration.sql'), 'utf8').then(
          (value) => ({ tag: 'ok' as const, value }),
          (error: Error) => ({ tag: 'error' as const, value: error.message }),
        );
        return { path: name, migrationFile: { path: 'migration.sql', content } };
      }),
  );
  return {
    baseDir: directory,
    lockfile: { path: 'migration_lock.toml', content: lockfile },
    shadowDbInitScript: '',
    migrationDirectories: migrationDirectories.sort((a, b) => a.path.localeCompare(b.path)),
  };
}

/**
 * True when every migration directory is recorded as applied and none is failed or rolled back: exactly when the
 * engine would apply nothing. Anything else (no bookkeeping table yet, a failed migration) goes to the engine.
 */
async function allApplied(client: pg.Client, migrations: MigrationList): Promise<boolean> {
  const { rows } = await client
    .query<{ migration_name: string; finished: boolean }>(
      `SELECT migration_name, finished_at IS NOT NULL AND rolled_back_at IS NULL AS finished FROM _prisma_migrations`,
    )
    .catch(() => ({ rows: [] }));
  if (rows.some((row) => !row.finished)) return false;
  const applied = new Set(rows.map((row) => row.migration_name));
  return migrations.migrationDirectories.length > 0 && migrations.migrationDirectories.every((dir) => applied.has(dir.path));
}

/**
 * Applies the migrations the database (which must exist) has not had yet. Processes starting at the same time
 * take turns: each holds a PostgreSQL advisory lock for its whole run, so every migration is applied once.
 */
export async function applyMigrations(
  databaseUrl: string,
  log: { info(obj: object, msg?: string): void },
): Promise<{ applied: string[] }> {
  const root = projectRoot();
  const schemaPath = path.join(root, 'prisma', 'schema.prisma');

  const lock = new pg.Client({ connectionString: databaseUrl, application_name: MIGRATION_LOCK_NAME });
  await lock.connect();
  try {
    // The engine takes an advisory lock of its own (key 72707369) but gives up after waiting 10 s; this one waits as
    // long as a concurrent start takes, and its key differs so that the two never wait on each other.
    await lock.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK_NAME]);
    const migrationsList = await readMigrations(path.join(root, 'prisma', 'migrations'));
    // The usual start (a restart, or another process migrated first) has nothing to apply: the engine, whose
    // WebAssembly memory stays with the process for good (~55 MB), is then not loaded at all.
    if (await allApplied(lock, migrationsList)) {
      log.info({ applied: [], migrations: migrationsList.migrationDirectories.length }, 'database schema up to date');
      return { applied: [] };
    }
    // engine.mjs stays where it is rather than being compiled into dist/, so it is found from the project root.
    const { openSchemaEngine } = (await import(
      pathToFileURL(path.join(root, 'prisma', 'engine', 'engine.mjs')).href
    )) as typeof SchemaEngineModule;
    const engine = await openSchemaEngine({
      datamodels: [[schemaPath, await readFile(schemaPath, 'utf8')]],
      url: databaseUrl,
    });
    try {
      const { appliedMigrationNames } = await engine.run('applyMigrations', {
        migrationsList,
        filters: { externalTables: [], externalEnums: [] },
      });
      log.info(
        { applied: appliedMigrationNames, migrations: migrationsList.migrationDirectories.length },
        appliedMigrationNames.length > 0 ? 'database migrations applied' : 'database schema up to date',
      );
      return { applied: appliedMigrationNames };
    } finally {
      await engine.close();
    }
  } finally {
    // Ending the session releases the advisory lock.
    await lock.end();
  }
}
