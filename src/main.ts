// `npm start`: run the server until SIGTERM/SIGINT, then shut down gracefully.
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './observability/logger.js';
import { applyV8Flags } from './runtime-tuning.js';
import { startServer } from './server.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`agentauth: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  applyV8Flags(config.v8Flags);
  const log = createLogger(config.logLevel);
  const server = await startServer(config, log);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    // The grace period bounds the wait for requests; the rest (pool, embedded PostgreSQL) takes moments. Past that,
    // something is stuck: leave rather than hang a deployment's stop.
    setTimeout(() => {
      log.error({ grace_ms: config.shutdownGraceMs }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, config.shutdownGraceMs + 10_000).unref();
    server.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`agentauth: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  if (error instanceof Error && error.cause) process.stderr.write(`  cause: ${String(error.cause)}\n`);
  process.exit(1);
});
