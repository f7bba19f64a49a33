// Prisma's schema engine (migrations, diffs, introspection) compiled to WebAssembly, talking to PostgreSQL through
// @prisma/adapter-pg. It stands in for the native schema-engine binary that the Prisma CLI cannot download on
// machines that reach only the npm registry (see README.md): schema-engine.mjs serves it to the CLI, and the app
// applies its migrations in-process with it (src/db/migrate.ts).
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum } from '@prisma/driver-adapter-utils';
import * as bindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import pg from 'pg';

const CHAR_OID = 18;
const TEXT_OID = 25;
export const SHADOW_DATABASE_PREFIX = 'prisma_shadow_';

/** A Rust panic inside the engine. The Wasm instance is unusable afterwards. */
export class SchemaEnginePanic extends Error {
  name = 'SchemaEnginePanic';
}

// The bindings module holds one Wasm instance for the whole process, so it is instantiated once.
let instantiation;
function instantiateEngine() {
  instantiation ??= (async () => {
    // The engine reports a panic's message through this global before it traps with a bare "unreachable".
    globalThis.PRISMA_WASM_PANIC_REGISTRY ??= { message: '', set_message(message) { this.message = message; } };
    const bindingsFile = createRequire(import.meta.url).resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const wasm = await readFile(path.join(path.dirname(bindingsFile), 'schema_engine_bg.wasm'));
    const { instance } = await WebAssembly.instantiate(wasm, { './schema_engine_bg.js': withUnrefTimers(bindings) });
    bindings.__wbg_set_wasm(instance.exports);
    instance.exports.__wbindgen_start();
  })();
  return instantiation;
}

// The engine never cancels a timer (its bindings import no clearTimeout): the 10 s timeout it sets around taking
// its migration lock would keep a finished process alive for 10 s. Its timers only ever bound work that is waiting
// on a database connection, which keeps the process alive on its own, so they need not.
function withUnrefTimers(imports) {
  return Object.fromEntries(
    Object.entries(imports).map(([name, value]) => [
      name,
      name.startsWith('__wbg_setTimeout_') ? (callback, ms) => setTimeout(callback, ms >>> 0).unref() : value,
    ]),
  );
}

/** The git hash of the Prisma engines build the Wasm module was compiled from. */
export async function engineVersion() {
  await instantiateEngine();
  return bindings.version();
}

function asPanic(error) {
  return error instanceof WebAssembly.RuntimeError
    ? new SchemaEnginePanic(globalThis.PRISMA_WASM_PANIC_REGISTRY.message || error.message, { cause: error })
    : error;
}

// adapter-pg 7.10 rejects PostgreSQL's internal "char" type (OID 18, e.g. pg_constraint.contype), which the engine's
// introspection queries select, and it has no column type that maps to ColumnTypeEnum.Character. So the pg client
// relabels such columns as text for adapter-pg, and remembers (by result rows) which ones they were, so that
// `withCharacterColumns` can report them to the engine as Character, the type it reads them as.
const charColumnsOfRows = new WeakMap();

function relabelCharColumns(result) {
  const columns = [];
  result.fields?.forEach((field, index) => {
    if (field.dataTypeID === CHAR_OID) {
      field.dataTypeID = TEXT_OID;
      columns.push(index);
    }
  });
  if (columns.length > 0) charColumnsOfRows.set(result.rows, columns);
  return result;
}

class CharColumnsClient extends pg.Client {
  query(config, values, callback) {
    if (typeof values === 'function') return this.query(config, undefined, values);
    if (typeof callback === 'function') {
      return super.query(config, values, (error, result) => callback(error, result && relabelCharColumns(result)));
    }
    const submitted = super.query(config, values);
    return typeof submitted?.then === 'function' ? submitted.then(relabelCharColumns) : submitted;
  }
}

function withCharacterColumns(resultSet) {
  for (const index of charColumnsOfRows.get(resultSet.rows) ?? []) {
    resultSet.columnTypes[index] = ColumnTypeEnum.Character;
  }
  return resultSet;
}

function engineTransaction(transaction) {
  return {
    adapterName: transaction.adapterName,
    provider: transaction.provider,
    options: transaction.options,
    queryRaw: async (query) => withCharacterColumns(await transaction.queryRaw(query)),
    executeRaw: (query) => transaction.executeRaw(query),
    commit: () => transaction.commit(),
    rollback: () => transaction.rollback(),
    createSavepoint: (name) => transaction.createSavepoint(name),
    rollbackToSavepoint: (name) => transaction.rollbackToSavepoint(name),
    releaseSavepoint: (name) => transaction.releaseSavepoint(name),
  };
}

function engineAdapter(adapter, dispose) {
  return {
    adapterName: adapter.adapterName,
    provider: adapter.provider,
    queryRaw: async (query) => withCharacterColumns(await adapter.queryRaw(query)),
    executeRaw: (query) => adapter.executeRaw(query),
    // adapter-pg splits scripts at every ";" (breaking $$-quoted function bodies) and runs the pieces one by one.
    // The native engine sends a migration script as one simple query, which PostgreSQL runs as one implicit
    // transaction: a failed migration leaves nothing half-applied. A query without parameters does exactly that.
    executeScript: async (script) => {
      await adapter.executeRaw({ sql: script, args: [], argTypes: [] });
    },
    startTransaction: async (isolationLevel) => engineTransaction(await adapter.startTransaction(isolationLevel)),
    getConnectionInfo: () => adapter.getConnectionInfo(),
    dispose,
  };
}

function withDatabase(url, database) {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.href;
}

function databaseAddress(url) {
  const { hostname, port, pathname } = new URL(url);
  return `${hostname}:${port || 5432}${pathname}`;
}

async function withClient(url, use) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/**
 * The driver adapter factory handed to the engine: connections to the main database, and shadow databases that
 * each start empty.
 */
class PostgresDatabases {
  provider = 'postgres';
  adapterName = '@prisma/adapter-pg';
  #url;
  #shadowDatabaseUrl;
  #disposals = new Set();
  #shadowDatabases = new Set();

  constructor(url, shadowDatabaseUrl) {
    if (shadowDatabaseUrl && databaseAddress(shadowDatabaseUrl) === databaseAddress(url)) {
      throw new Error('The shadow database URL names the main database, which would be emptied before each use.');
    }
    this.#url = url;
    this.#shadowDatabaseUrl = shadowDatabaseUrl;
  }

  async #open(url, afterDispose = async () => {}) {
    const adapter = await new PrismaPg({ connectionString: url, Client: CharColumnsClient }).connect();
    // Once, by the engine or by close(), whichever comes first: ending a pool twice is an error.
    const dispose = async () => {
      if (!this.#disposals.delete(dispose)) return;
      await adapter.dispose();
      await afterDispose();
    };
    this.#disposals.add(dispose);
    return engineAdapter(adapter, dispose);
  }

  connect() {
    return this.#open(this.#url);
  }

  // adapter-pg's own connectToShadowDb connects to the main database when given a connection string (the string's
  // database wins over the `database` option it adds), and the engine may ask for a shadow database more than once
  // per command, expecting it empty each time. So every call gets a database of its own, created here and dropped
  // when the engine lets go of it, or at the latest by `dropShadowDatabases`.
  async connectToShadowDb() {
    if (this.#shadowDatabaseUrl) {
      const adapter = await this.#open(this.#shadowDatabaseUrl);
      await emptyShadowDatabase(adapter);
      return adapter;
    }
    const database = `${SHADOW_DATABASE_PREFIX}${randomUUID().replaceAll('-', '')}`;
    await withClient(this.#url, (client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`));
    this.#shadowDatabases.add(database);
    return this.#open(withDatabase(this.#url, database), () => this.#dropShadowDatabase(database));
  }

  async #dropShadowDatabase(database) {
    if (!this.#shadowDatabases.delete(database)) return;
    await withClient(this.#url, (client) =>
      client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`),
    );
  }

  async dropShadowDatabases() {
    for (const database of this.#shadowDatabases) await this.#dropShadowDatabase(database);
  }

  async close() {
    for (const dispose of this.#disposals) await dispose();
    await this.dropShadowDatabases();
  }
}

// A configured shadow database is reused, so it is emptied before each use, as the native engine does.
async function emptyShadowDatabase(adapter) {
  const { rows } = await adapter.queryRaw({
    sql: `SELECT nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'`,
    args: [],
    argTypes: [],
  });
  const drops = rows.map(([schema]) => `DROP SCHEMA ${pg.escapeIdentifier(schema)} CASCADE;`).join('\n');
  await adapter.executeScript(`${drops}\nCREATE SCHEMA "public";`);
}

/** Connects to the database at `url` and back out: throws pg's error when the database is not usable. */
export async function checkDatabaseConnection(url) {
  await withClient(url, (client) => client.query('SELECT 1'));
}

/**
 * Creates the database `url` names, connected to the server's `postgres` maintenance database (the Wasm engine
 * has no such command: its connections are all to existing databases). Returns the database's name.
 */
export async function createDatabase(url) {
  const database = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!database) throw new Error('The database URL names no database to create.');
  await withClient(withDatabase(url, 'postgres'), (client) =>
    client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`),
  );
  return database;
}

// The Wasm build gives these commands no access to the adapter factory, so no shadow database: they can only take
// the schema the migrations build from the cache that commands with a shadow database fill. `migrate dev` on a
// database with pending migrations reaches them with that cache empty ("PostgreSQL shadow DB must be provided
// through an external factory"), so a diagnosis, which fills it (or finds it filled), goes first.
const COMMANDS_WITHOUT_SHADOW_DATABASE = new Set(['createMigration', 'evaluateDataLoss']);

/**
 * Starts a schema engine on the database at `url`, which must exist. Call `close()` when done: it ends the
 * engine's connections and drops any shadow database still there.
 */
export async function openSchemaEngine({ datamodels, url, shadowDatabaseUrl, log = () => {} }) {
  // Without a URL, pg would silently connect to whatever its PG* environment defaults point at.
  if (!url) throw new Error('The schema engine needs a database URL (datasource.url in prisma.config.ts).');
  await instantiateEngine();
  const databases = new PostgresDatabases(url, shadowDatabaseUrl);
  let engine;
  try {
    engine = await bindings.SchemaEngine.new({ datamodels }, log, bindMigrationAwareSqlAdapterFactory(databases));
  } catch (error) {
    await databases.close();
    throw asPanic(error);
  }
  let panicked = false;
  return {
    async run(command, params) {
      try {
        if (COMMANDS_WITHOUT_SHADOW_DATABASE.has(command)) {
          await engine.diagnoseMigrationHistory({
            migrationsList: params.migrationsList,
            optInToShadowDatabase: true,
            filters: params.filters,
          });
        }
        return await engine[command](params);
      } catch (error) {
        const panic = asPanic(error);
        panicked ||= panic instanceof SchemaEnginePanic;
        throw panic;
      } finally {
        // The engine drops the shadow databases it is done with; this catches any it left behind on failure.
        await databases.dropShadowDatabases();
      }
    },
    async close() {
      // After a panic the Wasm memory is not to be trusted, freeing included.
      if (!panicked) engine.free();
      await databases.close();
    },
  };
}
