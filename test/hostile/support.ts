// The hostile-input suite's machinery: one real server per file with a small cast (two humans, their agents, an app,
// a resource server's client, admin and auditor keys), a raw HTTP sender (node:http, so bodies can be chunked,
// oversized or not UTF-8 at all), and a table runner that asserts for every case: a 4xx in the surface's documented
// error shape, never a 5xx, no change to the key tables, and the audit record the contract asks for.
import http from 'node:http';
import { generateSecret } from '../../src/secrets/secret-hasher.js';
import { adminClient, API, approve, createAgent, createUser, seed, type AdminCall } from '../admin/support.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Where an answer comes from decides its error shape. */
export type Shape = 'oauth' | 'admin' | 'page';

export type HostileCase = {
  name: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** A string or bytes sent with content-length; an array of chunks sent chunked (no content-length). */
  body?: string | Buffer | Buffer[];
  shape: Shape;
  /** Allowed statuses (all 4xx); default: any 4xx. */
  status?: number[];
  /** The audit action exactly one new event must carry. */
  audit?: string;
};

export type Cast = {
  server: TestServer;
  admin: AdminCall;
  adminKey: string;
  auditorKey: string;
  alice: { id: string; username: string; password: string };
  bob: { id: string; username: string; password: string };
  agent: { id: string; client_secret: string };
  bobsAgent: { id: string; client_secret: string };
  rs: { id: string; client_secret: string };
  aliceApproval: { id: string };
  basic(client: { id: string; client_secret: string }): string;
};

export const PASSWORD = 'correct horse battery staple';

export async function startCast(options: { env?: Record<string, string>; logs?: NodeJS.WritableStream } = {}): Promise<Cast> {
  const adminKey = generateSecret('aa_ak');
  const server = await startTestServer({ env: { AGENTAUTH_BOOTSTRAP_ADMIN_KEY: adminKey, ...options.env }, ...(options.logs ? { logs: options.logs } : {}) });
  const admin = adminClient(server, adminKey);
  await seed(admin);
  const alice = { ...(await createUser(admin, 'alice')), password: PASSWORD };
  const bob = { ...(await createUser(admin, 'bob')), password: PASSWORD };
  const agent = await createAgent(admin, alice.id, 'Alice agent');
  const bobsAgent = await createAgent(admin, bob.id, 'Bob agent');
  const aliceApproval = await approve(admin, alice.id, agent.id);
  const auditor = await admin('POST', '/admin-keys', { name: 'auditor', role: 'auditor' });
  if (auditor.status !== 201) throw new Error(`auditor key: ${JSON.stringify(auditor.body)}`);
  const resource = await server.stores.resources.findByIdentifier(API);
  const rsClient = await server.stores.clients.createApp({
    name: 'API (resource server)',
    redirectUris: [],
    grantTypes: ['client_credentials'],
    authMethod: 'client_secret_basic',
    resourceServer: resource!.identifier,
  } as Parameters<typeof server.stores.clients.createApp>[0]);
  const rs = { id: rsClient.clientId, client_secret: rsClient.clientSecret! };
  const basic = (client: { id: string; client_secret: string }) =>
    `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`;
  return { server, admin, adminKey, auditorKey: auditor.body.key as string, alice, bob, agent, bobsAgent, rs, aliceApproval, basic };
}

export type RawResponse = { status: number; headers: http.IncomingHttpHeaders; text: string };

/** One request over a fresh connection; a server that answers before reading the whole body is fine. */
export function send(base: string, c: Pick<HostileCase, 'method' | 'path' | 'headers' | 'body'>): Promise<RawResponse> {
  const url = new URL(base);
  const chunked = Array.isArray(c.body);
  const headers: Record<string, string> = { ...c.headers };
  if (c.body !== undefined && !chunked) headers['content-length'] = String(Buffer.byteLength(c.body as string | Buffer));
  if (chunked) headers['transfer-encoding'] = 'chunked';
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, method: c.method ?? 'GET', path: c.path, headers, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    // Writing after the server has answered and closed is expected for oversized bodies; a connection that breaks
    // before any answer is a failure (not a hang).
    let answered = false;
    request.on('response', () => (answered = true));
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (answered && (error.code === 'EPIPE' || error.code === 'ECONNRESET')) return;
      setTimeout(() => (answered ? undefined : reject(error)), 500);
    });
    if (chunked) {
      void (async () => {
        for (const chunk of c.body as Buffer[]) {
          if (request.destroyed) return;
          request.write(chunk);
          await new Promise((r) => setImmediate(r));
        }
        request.end();
      })();
    } else {
      request.end(c.body);
    }
  });
}

/** Rows of the tables hostile input must never change. */
export async function stateCounts(server: TestServer): Promise<Record<string, number>> {
  const rows = await server.db.prisma.$queryRawUnsafe<Array<Record<string, bigint>>>(`SELECT
    (SELECT count(*) FROM users) AS users,
    (SELECT count(*) FROM agents) AS agents,
    (SELECT count(*) FROM clients) AS clients,
    (SELECT count(*) FROM resource_servers) AS resources,
    (SELECT count(*) FROM approvals WHERE status = 'active') AS active_approvals,
    (SELECT count(*) FROM issued_tokens) AS issued_tokens,
    (SELECT count(*) FROM issued_tokens WHERE revoked_at IS NOT NULL) AS revoked_tokens,
    (SELECT count(*) FROM admin_keys WHERE revoked_at IS NULL) AS admin_keys,
    (SELECT count(*) FROM ciba_requests) AS ciba_requests,
    (SELECT count(*) FROM agent_blocks) AS agent_blocks,
    (SELECT count(*) FROM oidc_payloads WHERE model IN ('Grant', 'AccessToken', 'RefreshToken', 'ClientCredentials', 'BackchannelAuthenticationRequest', 'AuthorizationCode')) AS grants_and_tokens`);
  return Object.fromEntries(Object.entries(rows[0]!).map(([k, v]) => [k, Number(v)]));
}

const auditCount = (server: TestServer, action: string) => server.db.prisma.auditEvent.count({ where: { action } });

/** Checks the body against the surface's error shape. */
export function expectShape(shape: Shape, response: RawResponse): void {
  expect(response.text).not.toMatch(/at .*\.(js|ts):\d+/);
  if (shape === 'page') {
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    return;
  }
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(response.text) as Record<string, unknown>;
  expect(body.error).toEqual(expect.stringMatching(/^[a-z_]+$/));
  if (shape === 'admin') expect(typeof body.message).toBe('string');
  else if (body.error_description !== undefined) expect(typeof body.error_description).toBe('string');
}

/** Runs one case with every assertion of the suite. */
const lastCounts = new WeakMap<Cast, Record<string, number>>();

export async function runCase(cast: Cast, c: HostileCase): Promise<RawResponse> {
  // Cases run one after another: what the previous case left is this one's "before" (one count query per case).
  const before = lastCounts.get(cast) ?? (await stateCounts(cast.server));
  const audited = c.audit ? await auditCount(cast.server, c.audit) : 0;
  const response = await send(cast.server.url, c);
  expect({ case: c.name, status: response.status, serverError: response.status >= 500 }).toEqual({ case: c.name, status: response.status, serverError: false });
  if (c.status) expect(c.status).toContain(response.status);
  else expect(response.status >= 400 && response.status < 500).toBe(true);
  expectShape(c.shape, response);
  const after = await stateCounts(cast.server);
  lastCounts.set(cast, after);
  expect(after).toEqual(before);
  if (c.audit) {
    // Some refusals are recorded as the response leaves (oidc-provider's events are not awaited): give them a moment.
    const deadline = Date.now() + 3_000;
    let now = await auditCount(cast.server, c.audit);
    while (now === audited && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      now = await auditCount(cast.server, c.audit);
    }
    await new Promise((r) => setTimeout(r, 30));
    expect({ case: c.name, action: c.audit, newEvents: (await auditCount(cast.server, c.audit)) - audited }).toEqual({ case: c.name, action: c.audit, newEvents: 1 });
  }
  return response;
}

/** The characters and byte sequences every string input is tried with. */
export const NASTY: Array<{ label: string; encoded: string }> = [
  { label: 'NUL', encoded: '%00' },
  { label: 'NUL inside', encoded: 'ab%00cd' },
  { label: 'invalid UTF-8', encoded: '%FF%FE' },
  { label: 'lone continuation byte', encoded: 'a%80b' },
  { label: 'overlong encoding', encoded: '%C0%AF' },
];

export const json = (value: unknown) => JSON.stringify(value);
export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
export const JSON_TYPE = { 'content-type': 'application/json' };
/** `count` chunks of `size` bytes of a form field, sent chunked. */
export const chunkedForm = (size: number, count: number) => [Buffer.from('x='), ...Array.from({ length: count }, () => Buffer.alloc(size, 0x61))];
