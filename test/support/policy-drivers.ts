// Drivers for the policy matrix (test/e2e/policy-matrix.test.ts): every grant through real HTTP against a running
// server, each answering the same shape (an access token, or the OAuth error the client saw), and a look-up of the
// audit event a refusal left with the rule that refused it. The code flow is driven over plain HTTP with a
// cookie-keeping client (the Chromium tests cover the pages themselves): sign-in and consent forms are read and
// posted as a browser would.
import * as client from 'openid-client';
import type { TestServer } from './server.js';
import { formToken, HttpBrowser } from './browser.js';
import { storedRequestId } from './ciba.js';

export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
export const EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export type Credentials = { id: string; secret: string };

/** What a token request came to: a token response, or the error the client was told. */
export type Outcome =
  | { ok: true; body: Record<string, unknown> & { access_token: string } }
  | { ok: false; status: number; error: string; description: string };

/** Runs an openid-client call, turning its protocol errors into an Outcome (anything else is a test failure). */
export async function attempt(call: () => Promise<client.TokenEndpointResponse>): Promise<Outcome> {
  try {
    const body = await call();
    return { ok: true, body: body as unknown as Record<string, unknown> & { access_token: string } };
  } catch (error) {
    const e = error as { error?: unknown; error_description?: unknown; status?: unknown; cause?: unknown };
    // A 401 arrives as a WWW-Authenticate challenge (RFC 6750 §3): its parameters carry the error.
    const challenge = Array.isArray(e.cause) ? (e.cause[0] as { parameters?: { error?: string; error_description?: string } }).parameters : undefined;
    const code = typeof e.error === 'string' ? e.error : challenge?.error;
    if (code === undefined) throw error;
    const status = typeof e.status === 'number' ? e.status : 0;
    return { ok: false, status, error: code, description: String(e.error_description ?? challenge?.error_description ?? '') };
  }
}

/** A raw form POST with client_secret_basic, for what openid-client does not speak (CIBA) or refuses to send. */
export async function postForm(server: TestServer, path: string, who: Credentials, fields: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.issuer}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(who.id)}:${encodeURIComponent(who.secret)}`).toString('base64')}`,
    },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export function toOutcome(response: { status: number; body: Record<string, unknown> }): Outcome {
  if (response.status === 200 && typeof response.body.access_token === 'string') {
    return { ok: true, body: response.body as Record<string, unknown> & { access_token: string } };
  }
  return { ok: false, status: response.status, error: String(response.body.error), description: String(response.body.error_description ?? '') };
}

/** openid-client configurations, discovered once per client. */
export function configurations(server: TestServer) {
  const cache = new Map<string, Promise<client.Configuration>>();
  return (who: Credentials): Promise<client.Configuration> => {
    const key = `${who.id}:${who.secret}`;
    if (!cache.has(key)) {
      cache.set(key, client.discovery(new URL(server.issuer), who.id, undefined, client.ClientSecretBasic(who.secret), { execute: [client.allowInsecureRequests] }));
    }
    return cache.get(key)!;
  };
}

/**
 * The highest audit sequence number once earlier requests' audit writes have settled (refusals are audited without
 * delaying the answer): refusals after it belong to the request that follows.
 */
export async function auditMark(server: TestServer): Promise<bigint> {
  const last = async () => (await server.db.prisma.auditEvent.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true } }))?.seq ?? 0n;
  let mark = await last();
  for (let i = 0; i < 20; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 40));
    const next = await last();
    if (next === mark) return mark;
    mark = next;
  }
  return mark;
}

/**
 * The refusal event a request left after `mark` (oidc-provider's refusals are audited without delaying the answer,
 * so this waits a little for it).
 */
export async function refusalAudit(server: TestServer, mark: bigint, action: string, timeoutMs = 3_000) {
  const started = Date.now();
  for (;;) {
    const event = await server.db.prisma.auditEvent.findFirst({ where: { seq: { gt: mark }, action }, orderBy: { seq: 'desc' } });
    if (event || Date.now() - started > timeoutMs) return event ?? undefined;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Where an authorization request ended: a code at the client's redirect URI, an error there, or a human being asked. */
export type AuthorizationEnd =
  | { kind: 'code'; callback: URL; verifier: string }
  | { kind: 'error'; error: string; description: string }
  | { kind: 'consent'; html: string; uid: string };

export type Human = { browser: HttpBrowser; username: string; password: string };

/** A cookie-keeping client for a human; the first authorization that needs it signs them in. */
export function humanBrowser(server: TestServer, credentials: { username: string; password: string }): Human {
  return { browser: new HttpBrowser(server.url), ...credentials };
}

/**
 * Runs an authorization request to its end. `consent` says what the human does on a consent page: `false` stops
 * there (the request asks the human), `true` approves everything offered (approval-only scopes included) for the
 * longest duration, a list approves exactly those scope names.
 */
export async function authorize(
  server: TestServer,
  human: Human,
  config: client.Configuration,
  request: { redirectUri: string; scope: string; resource?: string | undefined; prompt?: string },
  consent: boolean | string[],
): Promise<AuthorizationEnd> {
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: request.redirectUri,
    scope: request.scope,
    ...(request.resource ? { resource: request.resource } : {}),
    ...(request.prompt ? { prompt: request.prompt } : {}),
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  let step = await human.browser.follow(await human.browser.get(url.href.replace(server.issuer, server.url)));
  for (let hops = 0; hops < 4; hops += 1) {
    if (step.leftTo) {
      const error = step.leftTo.searchParams.get('error');
      if (error) return { kind: 'error', error, description: step.leftTo.searchParams.get('error_description') ?? '' };
      return { kind: 'code', callback: step.leftTo, verifier };
    }
    const html = await step.response.text();
    const action = /<form[^>]*action="([^"]*\/interaction\/([^/"]+)\/(login|confirm))"/.exec(html);
    if (!action) {
      // An error page of the authorization endpoint itself (no redirect URI to send it to).
      return { kind: 'error', error: `page ${step.response.status}`, description: html.slice(0, 300) };
    }
    const [, path, uid, prompt] = action;
    if (prompt === 'login') {
      step = await human.browser.follow(await human.browser.post(path!, { csrf: formToken(html, path!), username: human.username, password: human.password }));
      continue;
    }
    if (consent === false) return { kind: 'consent', html, uid: uid! };
    const fields: Record<string, string> = { csrf: formToken(html, path!) };
    for (const box of html.matchAll(/<input type="checkbox" name="(scope\.\d+\.\d+)"[^>]*>[^<]*<span class="scope-name">\(([^)]+)\)<\/span>/g)) {
      if (consent === true || consent.includes(box[2]!)) fields[box[1]!] = 'on';
    }
    const duration = /<option value="(\d+)" selected>/.exec(html);
    if (duration) fields.duration = duration[1]!;
    step = await human.browser.follow(await human.browser.post(path!, fields));
  }
  throw new Error('the authorization request did not end');
}

/** Redeems a code with openid-client. */
export function redeem(config: client.Configuration, end: Extract<AuthorizationEnd, { kind: 'code' }>): Promise<Outcome> {
  return attempt(() => client.authorizationCodeGrant(config, end.callback, { pkceCodeVerifier: end.verifier }));
}

const approvalsClients = new Map<string, HttpBrowser>();

/** Signs a human in on /approvals (its own sign-in) and approves a waiting CIBA request with these scopes ticked. */
export async function answerCiba(server: TestServer, credentials: { username: string; password: string }, authReqId: string, tick: string[]): Promise<void> {
  // One signed-in page client per server and human: signing in costs a password hash check.
  const key = `${server.url} ${credentials.username}`;
  const http = approvalsClients.get(key) ?? new HttpBrowser(server.url);
  approvalsClients.set(key, http);
  let html = await (await http.get('/approvals')).text();
  if (html.includes('action="/approvals/login"')) {
    const response = await http.post('/approvals/login', { csrf: formToken(html, '/approvals/login'), ...credentials });
    if (response.status !== 303) throw new Error(`approvals sign-in answered ${response.status}`);
    html = await (await http.get('/approvals')).text();
  }
  const approve = `/approvals/requests/${storedRequestId(server, authReqId)}/approve`;
  const start = html.indexOf(`action="${approve}"`);
  if (start < 0) throw new Error(`request ${authReqId} is not on /approvals`);
  const form = html.slice(start, html.indexOf('</form>', start));
  const fields: Record<string, string> = { csrf: formToken(html, approve) };
  for (const box of form.matchAll(/name="(scope\.\d+)"[^>]*>[^<]*<span class="scope-name">\(([^)]+)\)<\/span>/g)) {
    if (tick.includes(box[2]!)) fields[box[1]!] = 'on';
  }
  const response = await http.post(approve, fields);
  if (response.status !== 303) throw new Error(`approving answered ${response.status}`);
}
