#!/usr/bin/env node
// The schema engine executable the Prisma CLI runs in place of the native binary it cannot download here
// (PRISMA_SCHEMA_ENGINE_BINARY, set in prisma.config.ts). It speaks the native engine's protocol: JSON-RPC 2.0
// requests on stdin and responses on stdout, one JSON object per line; logs as JSON lines on stderr; and the
// one-shot `cli <command>` form. The work is done by Prisma's own engine compiled to Wasm (engine.mjs).
import { readFile } from 'node:fs/promises';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { checkDatabaseConnection, createDatabase, engineVersion, openSchemaEngine, SchemaEnginePanic } from './engine.mjs';

// The CLI's JSON-RPC method names, and the Wasm engine's name for each where it differs.
const COMMANDS = new Map([
  ['applyMigrations', 'applyMigrations'],
  ['createMigration', 'createMigration'],
  ['dbExecute', 'dbExecute'],
  ['debugPanic', 'debugPanic'],
  ['devDiagnostic', 'devDiagnostic'],
  ['diagnoseMigrationHistory', 'diagnoseMigrationHistory'],
  ['diff', 'diff'],
  ['ensureConnectionValidity', 'ensureConnectionValidity'],
  ['evaluateDataLoss', 'evaluateDataLoss'],
  ['getDatabaseVersion', 'version'],
  ['introspect', 'introspect'],
  ['introspectSql', 'introspectSql'],
  ['markMigrationApplied', 'markMigrationApplied'],
  ['markMigrationRolledBack', 'markMigrationRolledBack'],
  ['reset', 'reset'],
  ['schemaPush', 'schemaPush'],
]);

// The native engine's error code for errors it reports in its `data` field (a user-facing error).
const ENGINE_ERROR = 4466;
const METHOD_NOT_FOUND = -32601;

// The CLI reads logs and errors from stderr as JSON lines; an error of `cli <command>` must carry this target.
function log(level, message, fields = {}) {
  process.stderr.write(`${JSON.stringify({ level, fields: { message, ...fields }, target: 'schema_engine::logger' })}\n`);
}

// The native engine's user-facing error (P1xxx) for a failed connection, which the CLI acts on: it creates the
// database on P1003 and explains the others.
function connectionError(error, url) {
  const { hostname, port, pathname, username } = new URL(url);
  const server = `${hostname}:${port || 5432}`;
  const database = decodeURIComponent(pathname.slice(1));
  switch (error.code) {
    case '3D000':
      return { code: 'P1003', message: `Database \`${database}\` does not exist on the database server at \`${server}\`.` };
    case '42P04':
      return { code: 'P1009', message: `Database \`${database}\` already exists on the database server at \`${server}\`` };
    case '28P01':
    case '28000':
      return {
        code: 'P1000',
        message: `Authentication failed against database server at \`${hostname}\`, the provided database credentials for \`${decodeURIComponent(username)}\` are not valid.`,
      };
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
      return { code: 'P1001', message: `Can't reach database server at \`${server}\`` };
    default:
      return { message: error.message };
  }
}

// `cli <command>`: the CLI reads the exit code, and on failure the ERROR line on stderr after the first line.
async function runCliCommand(command, url) {
  log('INFO', 'Starting the schema engine (Prisma schema engine compiled to WebAssembly)');
  const commands = {
    'can-connect-to-database': () => checkDatabaseConnection(url),
    'create-database': async () => log('INFO', `Database ${await createDatabase(url)} created.`),
  };
  if (!commands[command]) {
    log('ERROR', `Unknown command: cli ${command}`, { is_panic: false });
    return 1;
  }
  if (!url) {
    log('ERROR', 'The database URL is missing (datasource.url in prisma.config.ts).', { is_panic: false });
    return 1;
  }
  try {
    await commands[command]();
    return 0;
  } catch (error) {
    const { code, message } = connectionError(error, url);
    log('ERROR', message, { is_panic: false, ...(code && { error_code: code }) });
    return 1;
  }
}

function rpcError(error) {
  if (error instanceof SchemaEnginePanic) {
    // The CLI reports a panic with the top-level message.
    return { code: ENGINE_ERROR, message: error.message, data: { is_panic: true, message: error.message } };
  }
  const data = { is_panic: false, message: error.message };
  // Only Prisma's own error codes (P3005, ...): the CLI shows them and acts on some; pg's or Node's would mislead.
  if (/^P\d{4}$/.test(error.code ?? '')) Object.assign(data, { error_code: error.code, meta: error.meta ?? {} });
  return { code: ENGINE_ERROR, message: 'An error happened. Check the data field for details.', data };
}

// The JSON-RPC loop. Requests run one at a time: each Wasm engine call holds the engine exclusively.
function serve(datamodels, datasource) {
  const send = (message) => process.stdout.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);
  // Started by the first request and kept until stdin ends; when it cannot start, every request gets that error.
  let session;
  const openSession = () =>
    (session ??= openSchemaEngine({
      datamodels: datamodels.length > 0 ? datamodels : undefined,
      url: datasource.url,
      shadowDatabaseUrl: datasource.shadowDatabaseUrl,
      log: (line) => process.stderr.write(line.endsWith('\n') ? line : `${line}\n`),
    }));

  // The native engine prints `diff` output by asking the CLI to print it, and waits for the CLI's answer.
  const prints = new Map();
  let nextPrintId = 1;
  const printOnCli = (content) =>
    new Promise((resolve) => {
      const id = nextPrintId++;
      prints.set(id, resolve);
      send({ id, method: 'print', params: { content: content.replace(/\n$/, '') } });
    });

  async function handle({ id, method, params }) {
    const command = COMMANDS.get(method);
    if (!command) return send({ id, error: { code: METHOD_NOT_FOUND, message: `Method not found: ${method}` } });
    try {
      const engine = await openSession();
      const result = await engine.run(command, params);
      if (method === 'diff' && result.stdout) {
        await printOnCli(result.stdout);
        return send({ id, result: { ...result, stdout: null } });
      }
      send({ id, result: result ?? null });
    } catch (error) {
      send({ id, error: rpcError(error) });
      // Like the native engine: after a panic the engine is gone, and the CLI takes exit code 101 as a crash.
      if (error instanceof SchemaEnginePanic) process.exit(101);
    }
  }

  let queue = Promise.resolve();
  const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  input.on('line', (line) => {
    if (!line.trim()) return;
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      log('ERROR', `Not a JSON-RPC message: ${line.slice(0, 200)}`);
      return;
    }
    if (message.method === undefined) {
      prints.get(message.id)?.();
      prints.delete(message.id);
    } else {
      queue = queue.then(() => handle(message));
    }
  });
  // The CLI ends stdin when it is done with the engine.
  input.on('close', async () => {
    await queue;
    try {
      // A session that failed to start has nothing to close.
      await (await session?.catch(() => undefined))?.close();
    } catch (error) {
      log('ERROR', `Closing the engine failed: ${error.message}`);
      process.exitCode = 1;
    }
  });
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    datamodels: { type: 'string', multiple: true, default: [] },
    datasource: { type: 'string', default: '{}' },
    version: { type: 'boolean', short: 'V' },
    // Passed by the CLI, but the Wasm engine takes neither.
    'enabled-preview-features': { type: 'string' },
    'extension-types': { type: 'string' },
  },
});
const datasource = JSON.parse(values.datasource);

if (values.version) {
  process.stdout.write(`schema-engine-cli ${await engineVersion()}\n`);
} else if (positionals[0] === 'cli') {
  process.exitCode = await runCliCommand(positionals[1], datasource.url);
} else {
  const datamodels = await Promise.all(values.datamodels.map(async (file) => [file, await readFile(file, 'utf8')]));
  serve(datamodels, datasource);
}
