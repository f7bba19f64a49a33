// `npm run bench`: the token endpoint against a fair peer, in one run, as ratios (the machine is shared, so absolute
// figures move; ratios measured in the same minutes move much less). The peer is an in-memory oidc-provider issuing
// what agentauth issues (bench/baseline-server.ts), measured before and after each agentauth scenario; each ratio
// uses the mean of the two peer runs around it.
// Measured on agentauth (PostgreSQL, every token's record and audit event committed before the response): client
// credentials, RFC 8693 token exchange, introspection of a live and of a revoked JWT access token; the same exchange
// on a large database (bench/seed-large.ts); the suspension of an agent holding 10,000 live tokens; server RSS.
// Every server and every load generator (autocannon, bench/load.ts) runs in its own process, on loopback only.
// BENCH_CONNECTIONS, BENCH_DURATION (seconds) change the load; BENCH_CPU_PROF=<dir> profiles the agentauth server and the peer;
// BENCH_NODE_ARGS adds node options to agentauth's servers after npm start's (a V8 flag under study, --trace-gc,
// whose output is then shown);
// The durability floor, measured after them, is the peer with every token recorded through agentauth's issuance
// statement before it answers (no other work of agentauth's): what durability alone costs inside oidc-provider.
// BENCH_SKIP_LARGE=1 leaves out the large-database part (it takes a minute to seed); BENCH_ONLY=<prefixes> measures
// only the small database's scenarios whose names start so (profiling one path), without goal lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { deriveAuditKeys } from '../src/audit/audit-chain.js';
import { loadConfig } from '../src/config.js';
import { applyMigrations } from '../src/db/migrate.js';
import { parseKek } from '../src/keys/kek.js';
import { createLogger } from '../src/observability/logger.js';
import { createSecretHasher } from '../src/secrets/secret-hasher.js';
import { SERVER_NODE_ARGS } from '../src/runtime-tuning.js';
import { startServer } from '../src/server.js';
import { LARGE, seedLargeDatabase, seedLiveTokens } from './seed-large.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = 3;
const API = 'https://files.bench.test';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const ROOT = path.resolve(import.meta.dirname, '..', '..');
const log = createLogger('warn');

type Result = {
  name: string; rps: number; p50: number; p99: number; non2xx: number; errors: number;
  /** CPU time per request (warm-up included) of the server measured, and of every PostgreSQL process, in µs. */
  serverUs?: number; postgresUs?: number;
  /**
   * Share of the run's wall time the server's main (JavaScript) thread was on a CPU, in %. The load generator's own
   * start is inside the run, so even the saturated peer reads 82-89: compare with the peer's, not with 100.
   */
  mainBusy?: number;
  /**
   * Share of the run's wall time the main thread was ready to run but waited for a CPU (the kernel's schedstat), in %:
   * the rest of the time it was off a CPU, it had nothing to do (it waited for I/O: the database, the network).
   */
  mainQueued?: number;
};
type Request = { url: string; body: string; headers: Record<string, string> };

async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Starts a server process and resolves once `readyUrl` answers 2xx. */
async function startProcess(args: string[], env: Record<string, string>, readyUrl: string): Promise<ChildProcess> {
  // With BENCH_NODE_ARGS the servers' standard output is shown (V8 traces such as --trace-gc write there).
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', process.env.BENCH_NODE_ARGS ? 'inherit' : 'ignore', 'inherit'] });
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

/** Peak resident set size of a process while `during` runs, from /proc (Linux). */
async function peakRss<T>(pid: number | undefined, during: Promise<T>): Promise<{ value: T; rssMb: number }> {
  let peak = 0;
  const sample = async () => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    peak = Math.max(peak, kb / 1024);
  };
  const timer = setInterval(() => void sample(), 250);
  try {
    const value = await during;
    await sample();
    return { value, rssMb: peak };
  } finally {
    clearInterval(timer);
  }
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** CPU time (user + system) a process has used so far, in seconds, from /proc (Linux); 0 when unreadable. */
async function cpuSeconds(pid: number, thread?: number): Promise<number> {
  const stat = await readFile(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / TICKS_PER_S;
}

/** Nanoseconds a thread has waited on a run queue (ready, without a CPU), from /proc (Linux, schedstat); 0 when unreadable. */
async function queuedNs(pid: number, thread: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/task/${thread}/schedstat`, 'utf8').catch(() => '');
  return Number(stat.split(' ')[1] ?? 0);
}

/** CPU time of every PostgreSQL process on this machine (server and backends), in seconds. */
async function postgresCpuSeconds(): Promise<number> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((entry) => /^\d+$/.test(entry));
  const comms = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')));
  const times = await Promise.all(pids.filter((_, i) => comms[i]!.trim() === 'postgres').map((pid) => cpuSeconds(Number(pid))));
  return times.reduce((sum, t) => sum + t, 0);
}

/** Runs autocannon in its own process (bench/load.ts); with `serverPid`, also the server's and PostgreSQL's CPU per request. */
async function load(name: string, request: Request, serverPid?: number): Promise<Result> {
  const job = JSON.stringify({ ...request, connections: CONNECTIONS, duration: DURATION, warmup: WARMUP });
  // The main thread's id is the process's.
  const cpuBefore = serverPid ? await Promise.all([cpuSeconds(serverPid), postgresCpuSeconds(), cpuSeconds(serverPid, serverPid), queuedNs(serverPid, serverPid)]) : undefined;
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/bench/load.js'), job], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`load generator for ${name} exited with ${code}`);
  const { sent, ...result } = JSON.parse(out.trim().split('\n').at(-1)!) as Omit<Result, 'name'> & { sent: number };
  if (cpuBefore && serverPid && sent > 0) {
    const [server, postgres, main, queued] = await Promise.all([cpuSeconds(serverPid), postgresCpuSeconds(), cpuSeconds(serverPid, serverPid), queuedNs(serverPid, serverPid)]);
    const wallS = (performance.now() - started) / 1000;
    result.serverUs = ((server - cpuBefore[0]) / sent) * 1e6;
    result.mainBusy = ((main - cpuBefore[2]) / wallS) * 100;
    result.mainQueued = ((queued - cpuBefore[3]) / 1e9 / wallS) * 100;
    // Backends that exit during the run take their CPU time with them: never below 0.
    result.postgresUs = Math.max(0, ((postgres - cpuBefore[1]) / sent) * 1e6);
  }
  const cpu = result.serverUs === undefined ? '' : `, CPU ${result.serverUs.toFixed(0)} µs/req (PostgreSQL ${Math.max(0, result.postgresUs!).toFixed(0)}), main thread busy ${result.mainBusy!.toFixed(0)}%, waiting for a CPU ${result.mainQueued!.toFixed(0)}%`;
  process.stderr.write(`  ${name}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99} ms${cpu}\n`);
  return { name, ...result };
}

/** A short unmeasured load (its own process, like the measured ones). */
async function warm(request: Request): Promise<void> {
  const job = JSON.stringify({ ...request, connections: CONNECTIONS, duration: WARMUP, warmup: 0 });
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/bench/load.js'), job], { stdio: 'ignore' });
  await once(child, 'exit');
}

const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}` });
const form = (params: Record<string, string>) => new URLSearchParams(params).toString();

async function createDatabase(name: string): Promise<string> {
  if (!process.env.DATABASE_URL) throw new Error('set DATABASE_URL (a PostgreSQL server the bench may create databases on)');
  const url = new URL(process.env.DATABASE_URL);
  url.pathname = `/${name}`;
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return url.toString();
}

async function dropDatabase(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
  await admin.end();
}

/** The servers' data directories this run made, removed with its databases at the end. */
const dataDirs: string[] = [];

type World = {
  env: Record<string, string>;
  issuer: string;
  adminKey: string;
  exchange: Request;
  clientCredentials: Request;
  introspectLive: Request;
  introspectRevoked: Request;
  cascade: { agentId: string; exchange: Request };
};

/**
 * A database with the bench's world, created through the same stores the server uses: a resource, a human, an agent
 * with an approval and the human's token it exchanges, an app (client credentials), the resource server's own client
 * (introspection), and a second agent for the suspension cascade. `seed` runs after migrations, before anything else.
 */
async function prepare(name: string, seed?: (url: string, kek: Buffer) => Promise<void>): Promise<World> {
  const databaseUrl = await createDatabase(name);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-bench-'));
  dataDirs.push(dataDir);
  const kekText = randomBytes(32).toString('base64url');
  const adminKey = `aa_admin_${randomBytes(32).toString('base64url')}`;
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: databaseUrl, AGENTAUTH_KEK: kekText, PORT: String(port), HOST: '127.0.0.1', ISSUER: issuer, LOG_LEVEL: 'warn',
    AGENTAUTH_DATA_DIR: dataDir, AGENTAUTH_DB_POOL_SIZE: '20', AGENTAUTH_BOOTSTRAP_ADMIN_KEY: adminKey,
    // Background work stays idle while measuring: no retention (nothing is old enough to delete anyway), no sweep.
    AGENTAUTH_AUDIT_RETENTION_DAYS: '0', AGENTAUTH_TOKEN_RECORD_RETENTION_DAYS: '0', AGENTAUTH_SWEEP_INTERVAL_S: '3600',
    // The server's V8 settings as `npm start` applies them; set AGENTAUTH_V8_FLAGS for the bench to study others.
    ...(process.env.AGENTAUTH_V8_FLAGS ? { AGENTAUTH_V8_FLAGS: process.env.AGENTAUTH_V8_FLAGS } : {}),
  };
  if (seed) {
    await applyMigrations(databaseUrl, log);
    await seed(databaseUrl, parseKek(kekText));
  }
  const setup = await startServer(loadConfig({ ...env, PORT: '0' }, dataDir), log);
  try {
    await setup.stores.resources.create({ identifier: API, name: 'Files', scopes: [{ name: 'files:read', description: 'Read files' }], access_token_ttl: 3600 });
    const human = await setup.stores.users.create({ username: 'bench', password: 'bench password 123' });
    const newAgent = async (agentName: string) => {
      const { agent, clientSecret } = await setup.stores.agents.create({
        name: agentName, ownerUserId: human.id, scopes: ['files:read'], audiences: [API], tokenEndpointAuthMethod: 'client_secret_basic', maxTokenTtl: 600,
      });
      await setup.stores.approvals.create({ userId: human.id, agentId: agent.id, scopes: ['files:read'], resources: [API], grantedVia: 'admin' });
      const { mintHumanToken } = await import('../test/support/tokens.js');
      const subjectToken = await mintHumanToken(setup, { userId: human.id, clientId: agent.id, resource: API, scopes: ['files:read'], lifetime: 3600 });
      const exchange: Request = {
        url: `${issuer}/token`,
        body: form({ grant_type: EXCHANGE, subject_token: subjectToken, subject_token_type: AT, resource: API, scope: 'files:read' }),
        headers: basic(agent.id, clientSecret!),
      };
      return { agent, subjectToken, exchange };
    };
    const main = await newAgent('Bench agent');
    const cascade = await newAgent('Cascade agent');
    const hasher = createSecretHasher(parseKek(kekText));
    await seedLiveTokens(databaseUrl, hasher.hash, { agentId: cascade.agent.id, userId: human.id, resource: API, count: 10_000 });

    const app = await setup.stores.clients.createApp({ name: 'Bench app', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic', resources: [API], scopes: ['files:read'] });
    const rs = await setup.stores.clients.createApp({ name: 'Files API', redirectUris: [], grantTypes: ['client_credentials'], authMethod: 'client_secret_basic', resourceServer: API });
    const { mintHumanToken } = await import('../test/support/tokens.js');
    const live = await mintHumanToken(setup, { userId: human.id, clientId: main.agent.id, resource: API, scopes: ['files:read'], lifetime: 3600 });
    const revoked = await mintHumanToken(setup, { userId: human.id, clientId: main.agent.id, resource: API, scopes: ['files:read'], lifetime: 3600 });
    const jti = (JSON.parse(Buffer.from(revoked.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
    await setup.stores.revocation.revoke({ jti }, { actor: { kind: 'system' } });
    const introspect = (token: string): Request => ({ url: `${issuer}/token/introspection`, body: form({ token }), headers: basic(rs.clientId, rs.clientSecret!) });
    return {
      env, issuer, adminKey,
      exchange: main.exchange,
      clientCredentials: { url: `${issuer}/token`, body: form({ grant_type: 'client_credentials', resource: API, scope: 'files:read' }), headers: basic(app.clientId, app.clientSecret!) },
      introspectLive: introspect(live),
      introspectRevoked: introspect(revoked),
      cascade: { agentId: cascade.agent.id, exchange: cascade.exchange },
    };
  } finally {
    await setup.close();
  }
}

async function send(request: Request): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(request.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...request.headers }, body: request.body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Guards against measuring the wrong thing fast: each request must do what it is meant to once, before the load. */
async function check(world: World): Promise<void> {
  const expect = (what: string, ok: boolean, got: unknown) => {
    if (!ok) throw new Error(`${what}: unexpected answer ${JSON.stringify(got)}`);
  };
  const exchanged = await send(world.exchange);
  expect('token exchange', exchanged.status === 200 && typeof exchanged.body.access_token === 'string', exchanged);
  const cc = await send(world.clientCredentials);
  expect('client credentials', cc.status === 200, cc);
  const live = await send(world.introspectLive);
  expect('introspection (live)', live.status === 200 && live.body.active === true, live);
  const revoked = await send(world.introspectRevoked);
  expect('introspection (revoked)', revoked.status === 200 && revoked.body.active === false, revoked);
}

const profileArgs = (tag: string) =>
  process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`, `--cpu-prof-name=agentauth-${tag}-${Date.now()}.cpuprofile`] : [];

/** How agentauth's servers are started: `npm start`'s node options, then BENCH_NODE_ARGS (space-separated; later wins). */
const serverArgs = (tag: string) => [
  ...profileArgs(tag),
  ...SERVER_NODE_ARGS,
  ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
  'dist/src/main.js',
];

/**
 * The fair peer, started once and kept running (idle between its runs) so it can be measured next to each scenario.
 * With `databaseUrl` it is the durability floor instead (bench/baseline-server.ts): the same peer, recording every
 * token through agentauth's issuance statement before it answers.
 */
async function startPeer(databaseUrl?: string): Promise<{ pid: number | undefined; request: Request; measure(): Promise<Result>; stop(): Promise<void> }> {
  const port = await freePort();
  const args = [...profileArgs(databaseUrl ? 'floor' : 'peer'), 'dist/bench/baseline-server.js', String(port), API, ...(databaseUrl ? [databaseUrl] : [])];
  const baseline = await startProcess(args, {}, `http://127.0.0.1:${port}/.well-known/openid-configuration`);
  const request = {
    url: `http://127.0.0.1:${port}/token`, body: form({ grant_type: 'client_credentials', resource: API, scope: 'files:read' }), headers: basic('bench', 'bench-secret'),
  };
  return { pid: baseline.pid, request, measure: () => load('client credentials (fair peer)', request, baseline.pid), stop: () => stop(baseline) };
}

/**
 * The small database's scenarios; BENCH_ONLY=<comma-separated prefixes> keeps the matching ones (a profiling aid:
 * the goal lines need them all).
 */
function smallScenarios(world: World): Array<[string, Request]> {
  const all: Array<[string, Request]> = [
    ['client credentials (agentauth)', world.clientCredentials],
    ['token exchange (agentauth)', world.exchange],
    ['introspection, live JWT (agentauth)', world.introspectLive],
    ['introspection, revoked JWT (agentauth)', world.introspectRevoked],
  ];
  return all.filter(([name]) => selected(name));
}

/** Whether BENCH_ONLY (comma-separated name prefixes; unset: everything) keeps the scenario of this name. */
function selected(name: string): boolean {
  const only = process.env.BENCH_ONLY?.split(',').map((prefix) => prefix.trim()).filter(Boolean);
  return !only?.length || only.some((prefix) => name.startsWith(prefix));
}

/** The durability floor's scenario name (a fair peer whose every token is recorded, bench/baseline-server.ts). */
const FLOOR = 'durability floor (peer + issuance write)';

/** An agentauth figure with the peer measured just before and just after it: its ratio uses their mean. */
type Scenario = Result & { peerRps: number; peerP99: number };

async function main(): Promise<void> {
  const tag = randomBytes(4).toString('hex');
  const databases: string[] = [];
  const scenarios: Scenario[] = [];
  const peers: Result[] = [];
  let rssMb = 0;
  let large: { result: Scenario; seedMs: number } | undefined;
  let cascade: { ms: number; revoked: unknown; nextStatus: number; nextError: unknown } | undefined;
  const peer = await startPeer();
  // The machine is shared and its load drifts within minutes: each scenario is bracketed by peer runs.
  const bracketed = async (name: string, request: Request, serverPid: number | undefined): Promise<Scenario> => {
    const before = peers.at(-1) ?? (peers.push(await peer.measure()), peers.at(-1)!);
    const result = await load(name, request, serverPid);
    const after = await peer.measure();
    peers.push(after);
    return { ...result, peerRps: (before.rps + after.rps) / 2, peerP99: (before.p99 + after.p99) / 2 };
  };
  try {
    const small = await prepare(`agentauth_bench_${tag}`);
    databases.push(small.env.DATABASE_URL!);
    const server = await startProcess(serverArgs('small'), small.env, `${small.issuer}/readyz`);
    try {
      await check(small);
      // One unmeasured pass over every request first: the first scenario must not pay for JIT and lazy loading.
      for (const [, request] of smallScenarios(small)) await warm(request);
      const measured = await peakRss(server.pid, (async () => {
        const results: Scenario[] = [];
        for (const [name, request] of smallScenarios(small)) results.push(await bracketed(name, request, server.pid));
        return results;
      })());
      scenarios.push(...measured.value);
      rssMb = measured.rssMb;
    } finally {
      await stop(server);
    }

    // What durability alone costs inside oidc-provider: the peer, each token recorded (group commit) before the answer.
    if (selected(FLOOR)) {
      const url = await createDatabase(`agentauth_bench_floor_${tag}`);
      databases.push(url);
      await applyMigrations(url, log);
      const floor = await startPeer(url);
      try {
        await warm(floor.request);
        scenarios.push(await bracketed(FLOOR, floor.request, floor.pid));
      } finally {
        await floor.stop();
      }
    }

    if (!process.env.BENCH_SKIP_LARGE && !process.env.BENCH_ONLY) {
      let seedMs = 0;
      process.stderr.write(`seeding ${LARGE.tokens} token records, ${LARGE.auditEvents} chained audit events, ${LARGE.agents} agents, ${LARGE.approvals} approvals\n`);
      const big = await prepare(`agentauth_bench_large_${tag}`, async (url, kek) => {
        seedMs = await seedLargeDatabase(url, deriveAuditKeys(kek), API);
      });
      databases.push(big.env.DATABASE_URL!);
      const bigServer = await startProcess(serverArgs('large'), big.env, `${big.issuer}/readyz`);
      try {
        await check(big);
        await warm(big.exchange);
        // The peer ran long before the seeding: measure it again next to this scenario.
        peers.push(await peer.measure());
        const measured = await peakRss(bigServer.pid, bracketed('token exchange, large database (agentauth)', big.exchange, bigServer.pid));
        large = { result: measured.value, seedMs };
        rssMb = Math.max(rssMb, measured.rssMb);

        // The kill switch on an agent holding 10,000 live tokens, then that agent's very next exchange.
        const before = await send(big.cascade.exchange);
        if (before.status !== 200) throw new Error(`cascade agent could not exchange before suspension: ${JSON.stringify(before)}`);
        const started = performance.now();
        const suspended = await fetch(`${big.issuer}/admin/v1/agents/${big.cascade.agentId}/suspend`, { method: 'POST', headers: { authorization: `Bearer ${big.adminKey}` } });
        const ms = performance.now() - started;
        const revoked = (await suspended.json()) as { revoked?: number };
        if (!suspended.ok) throw new Error(`suspension failed: ${JSON.stringify(revoked)}`);
        const next = await send(big.cascade.exchange);
        cascade = { ms, revoked: revoked.revoked, nextStatus: next.status, nextError: next.body.error };
      } finally {
        await stop(bigServer);
      }
    }
    report(peers, scenarios, rssMb, large, cascade);
  } finally {
    await peer.stop();
    for (const url of databases) await dropDatabase(url).catch(() => undefined);
    for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
  }
}

function report(
  peers: Result[],
  scenarios: Scenario[],
  rssMb: number,
  large: { result: Scenario; seedMs: number } | undefined,
  cascade: { ms: number; revoked: unknown; nextStatus: number; nextError: unknown } | undefined,
): void {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const ratio = (s: Scenario) => s.rps / s.peerRps;
  out();
  out(`${CONNECTIONS} connections, ${DURATION} s each after ${WARMUP} s warm-up, ${os.cpus().length} cores, Node ${process.version}`);
  out('each agentauth figure is bracketed by fair-peer runs; "x peer" is its rate over their mean');
  out();
  const us = (value: number | undefined) => (value === undefined ? '-' : value.toFixed(0)).padStart(8);
  out(`${'scenario'.padEnd(46)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'failed'.padStart(8)} ${'peer/s'.padStart(8)} ${'x peer'.padStart(7)} ${'cpu µs'.padStart(8)} ${'pg µs'.padStart(8)} ${'main %'.padStart(7)} ${'queued %'.padStart(8)}`);
  for (const r of [...scenarios, ...(large ? [large.result] : [])]) {
    out(`${r.name.padEnd(46)} ${r.rps.toFixed(0).padStart(8)} ${String(r.p50).padStart(8)} ${String(r.p99).padStart(8)} ${String(r.non2xx + r.errors).padStart(8)} ${r.peerRps.toFixed(0).padStart(8)} ${ratio(r).toFixed(2).padStart(7)} ${us(r.serverUs)} ${us(r.postgresUs)} ${us(r.mainBusy).slice(1)} ${us(r.mainQueued)}`);
  }
  out(`fair peer runs (client credentials): ${peers.map((p) => `${p.rps.toFixed(0)} req/s p99 ${p.p99} ms, CPU ${us(p.serverUs).trim()} µs/req, main thread busy ${us(p.mainBusy).trim()}% (waiting for a CPU ${us(p.mainQueued).trim()}%)`).join('; ')}`);
  out('cpu µs: the server process\'s CPU time per request (all its threads); pg µs: every PostgreSQL process\'s;');
  out('main %: the share of the run the server\'s JavaScript thread was on a CPU; queued %: the share it was ready but waited for one');
  out('(the rest it had nothing to run: it waited for the database or the network)');
  out();
  if (large) out(`large database seeded in ${(large.seedMs / 1000).toFixed(1)} s`);
  if (cascade) out(`suspension of an agent with 10,000 live tokens: ${cascade.ms.toFixed(0)} ms, ${String(cascade.revoked)} revoked; next exchange: ${cascade.nextStatus} ${String(cascade.nextError)}`);
  out(`agentauth peak RSS under load: ${rssMb.toFixed(0)} MB`);
  out();
  if (process.env.BENCH_ONLY) out('BENCH_ONLY: a partial run, no goal lines');
  else goals(out, scenarios, rssMb, large, cascade);
  if ([...scenarios, ...peers, ...(large ? [large.result] : [])].some((r) => r.non2xx + r.errors > 0)) {
    out('some requests failed: the figures are not valid');
    process.exitCode = 1;
  }
}

function goals(
  out: (line?: string) => void,
  scenarios: Scenario[],
  rssMb: number,
  large: { result: Scenario; seedMs: number } | undefined,
  cascade: { ms: number; revoked: unknown; nextStatus: number; nextError: unknown } | undefined,
): void {
  const ratio = (s: Scenario) => s.rps / s.peerRps;
  const find = (prefix: string) => scenarios.find((r) => r.name.startsWith(prefix))!;
  const exchange = find('token exchange');
  const goal = (ok: boolean, line: string) => out(`${ok ? 'HOLDS ' : 'MISSES'}  ${line}`);
  goal(ratio(exchange) >= 0.5 && exchange.p99 <= 2 * exchange.peerP99 && exchange.non2xx + exchange.errors === 0,
    `token exchange >= 0.5x peer (${ratio(exchange).toFixed(2)}x), p99 <= 2x peer's (${(exchange.p99 / exchange.peerP99).toFixed(2)}x), 0 errors (${exchange.non2xx + exchange.errors})`);
  const cc = find('client credentials');
  const floor = scenarios.find((r) => r.name === FLOOR);
  // The floor is no goal line: it shows how much of the peer's rate is left once each token is committed, and nothing else of agentauth's is done.
  goal(ratio(cc) >= 0.7, `client credentials >= 0.7x peer (${ratio(cc).toFixed(2)}x)${floor ? `; the durability floor alone: ${ratio(floor).toFixed(2)}x` : ''}`);
  const live = find('introspection, live');
  const revoked = find('introspection, revoked');
  goal(ratio(live) >= 0.7 && ratio(revoked) >= 0.7, `introspection >= 0.7x peer (live ${ratio(live).toFixed(2)}x, revoked ${ratio(revoked).toFixed(2)}x)`);
  if (large) {
    // The verdict is the ratio of ratios (each run against the peer runs around it); the plain rates and the CPU a
    // request cost in each are printed beside it, because a peer run in a slow minute moves one ratio and not the other.
    const onLarge = large.result;
    const cost = (r: Scenario) => (r.serverUs ?? NaN) + (r.postgresUs ?? NaN);
    goal(ratio(onLarge) >= 0.9 * ratio(exchange) && onLarge.non2xx + onLarge.errors === 0,
      `exchange on the large database within 10% (${(ratio(onLarge) / ratio(exchange)).toFixed(2)} of the small database's ratio to the peer; ` +
      `its rate ${(onLarge.rps / exchange.rps).toFixed(2)}x and its CPU per request, server and PostgreSQL, ${(cost(onLarge) / cost(exchange)).toFixed(2)}x the small database's)`);
  }
  if (cascade) goal(cascade.ms <= 2000 && cascade.nextStatus >= 400, `suspension with 10,000 live tokens <= 2 s (${cascade.ms.toFixed(0)} ms) and the next exchange refused (${cascade.nextStatus})`);
  goal(rssMb < 300, `server RSS under load < 300 MB (${rssMb.toFixed(0)} MB)`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
