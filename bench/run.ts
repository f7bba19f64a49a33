// `npm run bench`: token-endpoint throughput and latency at 64 connections, all in one run so the figures are
// ratios on the same machine: (1) RFC 8693 token exchange on agentauth, against (2) client credentials on the same
// agentauth server and (3) an in-memory oidc-provider with default settings issuing client-credentials JWTs.
// agentauth runs on PostgreSQL (DATABASE_URL, else an embedded server) in its own process; load comes from this one.
// BENCH_CONNECTIONS and BENCH_DURATION (seconds) change the load; BENCH_CPU_PROF=<dir> profiles the server.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { startEmbeddedDatabase } from '../src/db/embedded.js';
import { createLogger } from '../src/observability/logger.js';
import { startServer } from '../src/server.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = 3;
const API = 'https://files.bench.test';
const ROOT = path.resolve(import.meta.dirname, '..', '..');

type Result = { name: string; rps: number; p50: number; p99: number; non2xx: number; errors: number };

async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Starts a server process and resolves once `readyUrl` answers 2xx. */
async function startProcess(args: string[], env: Record<string, string>, readyUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode}`);
    if (await fetch(readyUrl).then((r) => r.ok, () => false)) return child;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`${args.join(' ')} did not become ready`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

async function load(name: string, url: string, body: string, headers: Record<string, string>): Promise<Result> {
  const options = { url, method: 'POST' as const, body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, connections: CONNECTIONS };
  await autocannon({ ...options, duration: WARMUP });
  const result = await autocannon({ ...options, duration: DURATION });
  return { name, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

async function main(): Promise<void> {
  const log = createLogger('warn');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-bench-'));
  let databaseUrl = process.env.DATABASE_URL;
  let embedded: { stop(): Promise<void> } | undefined;
  if (databaseUrl) {
    const url = new URL(databaseUrl);
    url.pathname = `/agentauth_bench_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${url.pathname.slice(1)}`);
    await admin.end();
    databaseUrl = url.toString();
  } else {
    const db = await startEmbeddedDatabase(dataDir, log, 'agentauth_bench');
    embedded = db;
    databaseUrl = db.url;
  }
  const kek = randomBytes(32).toString('base64url');
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const env = { DATABASE_URL: databaseUrl, AGENTAUTH_KEK: kek, PORT: String(port), HOST: '127.0.0.1', ISSUER: issuer, LOG_LEVEL: 'warn', AGENTAUTH_DATA_DIR: dataDir, AGENTAUTH_DB_POOL_SIZE: '20' };

  // Set-up through the same stores the server uses: a resource, a human, an agent and an app with secrets, an
  // approval, and the human's token the agent exchanges on every request.
  const setup = await startServer(loadConfig({ ...env, PORT: '0' }, dataDir), log);
  await setup.stores.resources.create({ identifier: API, name: 'Files', scopes: [{ name: 'files:read', description: 'Read files' }], access_token_ttl: 600 });
  const human = await setup.stores.users.create({ username: 'bench', password: 'bench password 123' });
  const { agent, clientSecret: agentSecret } = await setup.stores.agents.create({
    name: 'Bench agent', ownerUserId: human.id, scopes: ['files:read'], audiences: [API], tokenEndpointAuthMethod: 'client_secret_basic',
  });
  await setup.stores.approvals.create({ userId: human.id, agentId: agent.id, scopes: ['files:read'], resources: [API], grantedVia: 'admin' });
  const app = await setup.stores.clients.createApp({ name: 'Bench app', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic' });
  const { mintHumanToken } = await import('../test/support/tokens.js');
  const subjectToken = await mintHumanToken(setup, { userId: human.id, clientId: agent.id, resource: API, scopes: ['files:read'], lifetime: 600 });
  await setup.close();

  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the agentauth process there (open it in Chrome DevTools).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const server = await startProcess([...profile, 'dist/src/main.js'], env, `${issuer}/readyz`);
  const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });
  const results: Result[] = [];
  try {
    results.push(
      await load('token exchange (agentauth)', `${issuer}/token`, new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: subjectToken,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        resource: API,
        scope: 'files:read',
      }).toString(), basic(agent.id, agentSecret!)),
    );
    results.push(await load('client credentials (agentauth)', `${issuer}/token`, new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'files:read' }).toString(), basic(app.clientId, app.clientSecret!)));
  } finally {
    await stop(server);
  }

  const baselinePort = await freePort();
  const baseline = await startProcess(['dist/bench/baseline-server.js', String(baselinePort)], {}, `http://127.0.0.1:${baselinePort}/.well-known/openid-configuration`);
  try {
    results.push(await load('client credentials (in-memory oidc-provider)', `http://127.0.0.1:${baselinePort}/token`, new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'files:read' }).toString(), basic('bench', 'bench-secret')));
  } finally {
    await stop(baseline);
  }

  await embedded?.stop();
  await rm(dataDir, { recursive: true, force: true });

  const [exchange, cc, framework] = results as [Result, Result, Result];
  process.stdout.write(`\n${CONNECTIONS} connections, ${DURATION} s each after ${WARMUP} s warm-up, ${os.cpus().length} cores, Node ${process.version}\n\n`);
  process.stdout.write(`${'scenario'.padEnd(46)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'non-2xx'.padStart(8)}\n`);
  for (const r of results) {
    process.stdout.write(`${r.name.padEnd(46)} ${r.rps.toFixed(0).padStart(8)} ${String(r.p50).padStart(8)} ${String(r.p99).padStart(8)} ${String(r.non2xx + r.errors).padStart(8)}\n`);
  }
  process.stdout.write(`\nratios (throughput): exchange / agentauth client credentials = ${(exchange.rps / cc.rps).toFixed(2)}`);
  process.stdout.write(`, exchange / in-memory oidc-provider = ${(exchange.rps / framework.rps).toFixed(2)}`);
  process.stdout.write(`, agentauth client credentials / in-memory oidc-provider = ${(cc.rps / framework.rps).toFixed(2)}\n`);
  process.stdout.write(`ratios (p99 latency): exchange / client credentials = ${(exchange.p99 / cc.p99).toFixed(2)}, exchange / in-memory = ${(exchange.p99 / framework.p99).toFixed(2)}\n`);
  if (results.some((r) => r.non2xx + r.errors > 0)) {
    process.stdout.write('some requests failed: the figures are not valid\n');
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
