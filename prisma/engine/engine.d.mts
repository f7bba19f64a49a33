// Types of engine.mjs: Prisma's schema engine compiled to WebAssembly, on PostgreSQL through @prisma/adapter-pg.
import type { SchemaEngine } from '@prisma/schema-engine-wasm';

/** The engine's commands, named as in the Wasm build (the CLI's `getDatabaseVersion` is `version` here). */
export type SchemaEngineCommand = Exclude<Extract<keyof SchemaEngine, string>, 'free'>;

export type SchemaEngineSession = {
  /** Runs one command. Commands on one session must not overlap: the engine serves one at a time. */
  run<C extends SchemaEngineCommand>(
    command: C,
    params: Parameters<SchemaEngine[C]>[0],
  ): Promise<Awaited<ReturnType<SchemaEngine[C]>>>;
  /** Ends the engine's connections and drops any shadow database still there. */
  close(): Promise<void>;
};

export type SchemaEngineOptions = {
  /** The Prisma schema files, as [path, content]. */
  datamodels?: [string, string][];
  /** The main database, which must exist. */
  url: string;
  /** A database reserved for the engine's scratch work, emptied before each use. By default every shadow database
   * is created for the occasion on the main database's server and dropped afterwards. */
  shadowDatabaseUrl?: string;
  /** Receives the engine's log lines (JSON). */
  log?: (line: string) => void;
};

/** Shadow databases created for the occasion are named with this prefix. */
export declare const SHADOW_DATABASE_PREFIX: string;

/** A Rust panic inside the engine. The Wasm instance is unusable afterwards. */
export declare class SchemaEnginePanic extends Error {}

/** The git hash of the Prisma engines build the Wasm module was compiled from. */
export declare function engineVersion(): Promise<string>;

/** Connects to the database at `url` and back out: throws pg's error when the database is not usable. */
export declare function checkDatabaseConnection(url: string): Promise<void>;

/** Creates the database `url` names; returns its name. */
export declare function createDatabase(url: string): Promise<string>;

export declare function openSchemaEngine(options: SchemaEngineOptions): Promise<SchemaEngineSession>;
