// Faults under load, on a PostgreSQL cluster of the test's own (embedded, on its own port: the machine's server is
// never touched) and agentauth as a real process: the database stopped for a few seconds and restarted, and a server
// SIGKILLed mid-load. Whatever happens, no token leaves without its record; during the outage clients get 503
// `temporarily_unavailable` with Retry-After (never a 500) and the log gets a line per interval, not a stack per
// request; service is back within 5 s of the database; `agentauth audit verify` passes afterwards.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { createLogger } from '../../src/observability/logger.js';
import { generateSecret } from '../../src/secrets/secret-hasher.js';
import { freePort } from '../support/server.js';
import { spawnServer, type ServerProcess } from '../support/process.js';

const LONG = 180_000;

const API = 'https://api.example.test';
const ROOT = path.resolve(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const log = createLogger('silent');

let dataDir: string;
let port: number;
let database: EmbeddedDatabase;
const kek = randomBytes(32).toString('base64url');
const adminKey = generateSecret('aa_ak');

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-fault-'));
  port = await freePort();
  database = await startEmbeddedDatabase(dataDir, log, 'agentauth', { port });
}, LONG);
afterAll(async () => {
  await database?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const env = () => ({ DATABASE_URL: database.url, AGENTAUTH_KEK: kek, AGENTAUTH_BOOTSTRAP_ADMIN_KEY: adminKey, AGENTAUTH_DB_POOL_SIZE: '8' });

async function adminCall(server: ServerProcess, method: string, route: string, body: unknown) {
  const response = await fetch(`${server.url}/admin/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** A resource and an agent allowed to get client-credentials tokens for it (once per database). */
let agent: { id: string; client_secret: string } | undefined;
async function ensureAgent(server: ServerProcess) {
  if (agent) return agent;
  const user = await adminCall(server, 'POST', '/users', { username: 'owner', password: 'correct horse battery staple' });
  await adminCall(server, 'POST', '/resources', { identifier: API, name: 'API', scopes: [{ name: 'files:read', description: 'read' }] });
  const created = await adminCall(server, 'POST', '/agents', {
    name: 'Load agent', owner_user_id: user.body.id, scopes: ['files:read'], audiences: [API], token_endpoint_auth_method: 'client_secret_basic',
  });
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  agent = created.body as { id: string; client_secret: string };
  return agent;
}

type Outcome = { at: number; status: number; jti?: string; error?: string; retryAfter?: string | null };

/** Workers asking for tokens until `stop()`; bounded by `maxMs` whatever happens. Connection failures are status 0. */
function load(url: string, client: { id: string; client_secret: string }, workers = 6, maxMs = 30_000) {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const started = Date.now();
  const basic = `Basic ${Buffer.from(`${client.id}:${client.client_secret}`).toString('base64')}`;
  const worker = async () => {
    while (!stopped && Date.now() - started < maxMs) {
      try {
        const response = await fetch(`${url}/token`, {
          method: 'POST',
          headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
          body: `grant_type=client_credentials&resource=${encodeURIComponent(API)}&scope=files%3Aread`,
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await response.json()) as { access_token?: string; error?: string };
        const jti = body.access_token ? (JSON.parse(Buffer.from(body.access_token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti : undefined;
        outcomes.push({ at: Date.now(), status: response.status, ...(jti ? { jti } : {}), ...(body.error ? { error: body.error } : {}), retryAfter: response.headers.get('retry-after') });
      } catch {
        outcomes.push({ at: Date.now(), status: 0 });
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const running = Promise.all(Array.from({ length: workers }, worker));
  return {
    outcomes,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Every token a client received has its record. */
async function expectRecorded(outcomes: Outcome[]) {
  const jtis = outcomes.filter((o) => o.status === 200).map((o) => o.jti!);
  expect(jtis.length).toBeGreaterThan(0);
  const recorded = await withClient((c) => c.query<{ n: string }>('SELECT count(*) AS n FROM issued_tokens WHERE jti = ANY($1)', [jtis]));
  expect(Number(recorded.rows[0]!.n)).toBe(jtis.length);
}

async function auditVerify(): Promise<string> {
  const { stdout } = await run(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'audit', 'verify', '--chain-first'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: database.url, AGENTAUTH_KEK: kek, LOG_LEVEL: 'silent' },
  });
  return stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('answers 503 temporarily_unavailable while PostgreSQL is down, recovers within 5 s of its restart, and every token handed out has its record', async () => {
  const server = await spawnServer(env());
  try {
    const client = await ensureAgent(server);
    const traffic = load(server.url, client);
    await sleep(1_500);
    await database.stop();
    // The window of the outage: from the moment the postmaster has exited (answers in flight then still arrive for
    // a moment) to the moment its restart begins (PostgreSQL accepts connections before startEmbeddedDatabase has
    // finished its own checks, and requests then succeed, as they should).
    const stoppedAt = Date.now();
    await sleep(4_000);
    const restartingAt = Date.now();
    database = await startEmbeddedDatabase(dataDir, log, 'agentauth', { port });
    const restartedAt = Date.now();
    // Load continues until service has been back for a while (bounded by the loop's own limit).
    for (let i = 0; i < 100 && !traffic.outcomes.some((o) => o.at > restartedAt && o.status === 200); i += 1) await sleep(100);
    await sleep(1_000);
    await traffic.stop();

    const during = traffic.outcomes.filter((o) => o.at > stoppedAt + 250 && o.at < restartingAt);
    const statuses = [...new Set(traffic.outcomes.map((o) => o.status))].sort();
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect(traffic.outcomes.filter((o) => o.status === 0)).toEqual([]);
    expect(during.length).toBeGreaterThan(0);
    expect(during.filter((o) => !(o.status === 503 && o.error === 'temporarily_unavailable' && o.retryAfter !== null))).toEqual([]);
    const firstBack = traffic.outcomes.find((o) => o.at > restartedAt && o.status === 200);
    expect(firstBack).toBeDefined();
    expect(firstBack!.at - restartedAt).toBeLessThan(5_000);
    await expectRecorded(traffic.outcomes);

    // One line when the outage starts and at most one per interval after, not a stack per failed request.
    const outageLines = server.logs.filter((l) => l.msg === 'database unavailable: answering 503');
    expect(outageLines.length).toBeGreaterThanOrEqual(1);
    expect(outageLines.length).toBeLessThanOrEqual(3);
    expect(server.logs.filter((l) => l.level === 'error').length).toBeLessThanOrEqual(3);
    expect(server.logs.filter((l) => l.msg === 'request' && l.status === 503).length).toBe(traffic.outcomes.filter((o) => o.status === 503).length);
  } finally {
    await server.terminate();
  }
  expect(await auditVerify()).toContain('OK');
}, LONG);

it('a server killed mid-load (SIGKILL) handed out no token without its record; a new one serves at once', async () => {
  const victim = await spawnServer(env());
  const client = await ensureAgent(victim);
  const traffic = load(victim.url, client);
  await sleep(1_500);
  victim.child.kill('SIGKILL');
  await new Promise((r) => victim.child.once('exit', r));
  await sleep(300);
  await traffic.stop();
  expect(traffic.outcomes.filter((o) => o.status >= 500)).toEqual([]);
  await expectRecorded(traffic.outcomes);

  const successor = await spawnServer(env());
  try {
    const after = load(successor.url, client, 2);
    await sleep(500);
    await after.stop();
    expect(after.outcomes.length).toBeGreaterThan(0);
    expect(after.outcomes.every((o) => o.status === 200)).toBe(true);
    await expectRecorded(after.outcomes);
  } finally {
    await successor.terminate();
  }
  expect(await auditVerify()).toContain('OK');
}, LONG);
