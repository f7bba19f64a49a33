// Shared by the admin API tests: a real server whose first admin key is known (AGENTAUTH_BOOTSTRAP_ADMIN_KEY), and a
// small JSON client for /admin/v1 over real HTTP.
import { generateSecret } from '../../src/secrets/secret-hasher.js';
import { startTestServer, type TestServer } from '../support/server.js';

export type ApiResponse<T = any> = { status: number; headers: Headers; body: T };

export type AdminServer = TestServer & { adminKey: string };

export async function startAdminServer(): Promise<AdminServer> {
  const adminKey = generateSecret('aa_ak');
  const server = await startTestServer({ env: { AGENTAUTH_BOOTSTRAP_ADMIN_KEY: adminKey } });
  return Object.assign(server, { adminKey });
}

/** Calls /admin/v1 with `key` (null: no Authorization header); `body` is sent as JSON unless it is a string. */
export function adminClient(server: { url: string }, key: string | null) {
  return async function call<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const response = await fetch(`${server.url}/admin/v1${path}`, {
      method,
      headers: {
        ...(key === null ? {} : { authorization: `Bearer ${key}` }),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    // JSON answers are parsed; the NDJSON export stays text.
    const json = response.headers.get('content-type')?.startsWith('application/json') ?? false;
    return { status: response.status, headers: response.headers, body: (text ? (json ? JSON.parse(text) : text) : undefined) as T };
  };
}

export type AdminCall = ReturnType<typeof adminClient>;

/** Every item of a list, following next_cursor page by page; also answers how many pages it took. */
export async function walk<T = any>(call: AdminCall, path: string, limit: number): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const response: ApiResponse<{ items: T[]; next_cursor: string | null }> = await call(
      'GET',
      `${path}${separator}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${JSON.stringify(response.body)}`);
    items.push(...response.body.items);
    cursor = response.body.next_cursor;
    pages += 1;
  } while (cursor !== null && pages < 1000);
  return { items, pages };
}

export const API = 'https://api.example.test';
export const OTHER_API = 'https://other.example.test';

/** A human, two resource servers and the admin client: the fixture most admin tests start from. */
export async function seed(call: AdminCall) {
  const user = await call('POST', '/users', { username: `human-${Math.random().toString(36).slice(2, 8)}`, password: 'correct horse battery staple' });
  for (const [identifier, scope] of [
    [API, 'files:read'],
    [OTHER_API, 'mail:send'],
  ] as const) {
    const existing = await call('GET', '/resources?limit=200');
    if (existing.body.items.some((r: { identifier: string }) => r.identifier === identifier)) continue;
    const created = await call('POST', '/resources', {
      identifier,
      name: identifier,
      scopes: [
        { name: scope, description: `${scope} scope` },
        { name: `${scope.split(':')[0]}:write`, description: 'write' },
      ],
    });
    if (created.status !== 201) throw new Error(`resource: ${JSON.stringify(created.body)}`);
  }
  if (user.status !== 201) throw new Error(`user: ${JSON.stringify(user.body)}`);
  return { user: user.body as { id: string; username: string } };
}

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A token request with client_secret_basic; answers status and body. */
export async function tokenRequest(server: { issuer: string }, agent: { id: string; client_secret: string }, params: Record<string, string>) {
  const response = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(agent.id, agent.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  return { status: response.status, body: (await response.json()) as { access_token?: string; error?: string; error_description?: string } };
}

/** The agent's own token (client credentials) for API. */
export async function agentToken(server: { issuer: string }, agent: { id: string; client_secret: string }, scope = 'files:read'): Promise<string> {
  const response = await tokenRequest(server, agent, { grant_type: 'client_credentials', scope, resource: API });
  if (!response.body.access_token) throw new Error(`client credentials: ${JSON.stringify(response.body)}`);
  return response.body.access_token;
}

/** RFC 8693: the agent exchanges a token standing for a human for one to act for that human. */
export async function exchangeToken(
  server: { issuer: string },
  agent: { id: string; client_secret: string },
  subjectToken: string,
  extra: Record<string, string> = {},
): Promise<string> {
  const response = await tokenRequest(server, agent, {
    grant_type: TOKEN_EXCHANGE,
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    resource: API,
    ...extra,
  });
  if (!response.body.access_token) throw new Error(`token exchange: ${JSON.stringify(response.body)}`);
  return response.body.access_token;
}

/** What a client learns about a token at the introspection endpoint (as that client). */
export async function introspect(server: { issuer: string }, as: { id: string; client_secret: string }, token: string) {
  const response = await fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { authorization: basic(as.id, as.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  return (await response.json()) as { active: boolean } & Record<string, unknown>;
}

export function jtiOf(jwt: string): string {
  return (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
}

/** A secret-authenticated agent for API (files:read, files:write), created through the admin API. */
export async function createAgent(call: AdminCall, ownerUserId: string, name = 'Agent'): Promise<{ id: string; client_secret: string }> {
  const response = await call('POST', '/agents', {
    name,
    owner_user_id: ownerUserId,
    scopes: ['files:read', 'files:write'],
    audiences: [API],
    token_endpoint_auth_method: 'client_secret_basic',
  });
  if (response.status !== 201) throw new Error(`agent: ${JSON.stringify(response.body)}`);
  return response.body;
}

export async function createUser(call: AdminCall, username: string): Promise<{ id: string; username: string }> {
  const response = await call('POST', '/users', { username, password: 'correct horse battery staple' });
  if (response.status !== 201) throw new Error(`user: ${JSON.stringify(response.body)}`);
  return response.body;
}

export async function approve(call: AdminCall, userId: string, agentId: string, scopes = ['files:read', 'files:write']): Promise<{ id: string }> {
  const response = await call('POST', '/approvals', { user_id: userId, agent_id: agentId, scopes, resources: [API] });
  if (response.status !== 201) throw new Error(`approval: ${JSON.stringify(response.body)}`);
  return response.body;
}
