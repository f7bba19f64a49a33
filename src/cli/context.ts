// What every CLI command gets: the configuration, a logger on stderr, and the database (the configured server, or
// the embedded one: shared with a running `npm start`, else started for the command and stopped after it).
import type { Config } from '../config.js';
import type { Revoker } from '../revocation/revocation-service.js';
import { connectDatabase, type Database } from '../db/client.js';
import { startEmbeddedDatabase } from '../db/embedded.js';
import { applyMigrations } from '../db/migrate.js';
import { ensureDatabaseExists } from '../db/create-database.js';
import { loadKek } from '../keys/kek.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { createSecretHasher, type SecretHasher } from '../secrets/secret-hasher.js';

export type CliContext = {
  config: Config;
  log: Logger;
  db: Database;
  kek: Buffer;
  secrets: SecretHasher;
  /** Output for the person at the terminal (stdout); secrets shown once go here, never to the log. */
  print(line: string): void;
};

/**
 * Who acts, in the audit log, when the CLI writes: an administrator with database access (no admin key is involved),
 * recorded like the admin API's actor so that `actor_type=admin` finds both.
 */
export const CLI_ACTOR: Revoker = { actor: { kind: 'admin', id: 'cli' } };

export class UsageError extends Error {
  override name = 'UsageError';
}

export type CliCommand = {
  /** e.g. "users create" */
  name: string;
  summary: string;
  usage: string;
} & (
  | { run(ctx: CliContext, args: string[]): Promise<void> }
  /** Commands that need neither configuration nor a database (e.g. making the KEK a configuration needs). */
  | { runStandalone(args: string[], print: (line: string) => void): Promise<void> }
);

export async function openCliContext(config: Config): Promise<CliContext & { close(): Promise<void> }> {
  // The CLI's own log lines go to stderr so that stdout carries only the command's output.
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
  const cleanup: Array<() => Promise<void>> = [];
  let url = config.databaseUrl;
  if (url === undefined) {
    const embedded = await startEmbeddedDatabase(config.dataDir, log);
    cleanup.unshift(() => embedded.stop());
    url = embedded.url;
  } else {
    await ensureDatabaseExists(url, log);
  }
  await applyMigrations(url, log);
  const db = connectDatabase(url, log, 2);
  cleanup.unshift(() => db.close());
  const kek = await loadKek(config.kek, config.dataDir);
  return {
    config,
    log,
    db,
    kek,
    secrets: createSecretHasher(kek),
    print: (line) => process.stdout.write(`${line}\n`),
    async close() {
      for (const step of cleanup) await step();
    },
  };
}
