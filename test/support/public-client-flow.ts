// The authorization code flow of a public client (PKCE, no secret) driven over HTTP through the sign-in and agent
// consent pages, for clients that arrive by themselves: CIMD documents and DCR registrations.
import { formToken, HttpBrowser, pkce } from './browser.js';

export type PublicClientRequest = { clientId: string; redirectUri: string; scope: string; resource: string };
export type Authorized = { code: string; verifier: string; consentHtml: string; browser: HttpBrowser };

/** Runs /auth → login → consent (accepting what is offered) → back to the redirect URI with a code. */
export async function authorizeThroughPages(
  issuer: string,
  request: PublicClientRequest,
  credentials: { username: string; password: string },
  browser = new HttpBrowser(issuer),
): Promise<Authorized> {
  const { verifier, challenge } = pkce();
  const params = new URLSearchParams({
    client_id: request.clientId,
    redirect_uri: request.redirectUri,
    response_type: 'code',
    scope: request.scope,
    resource: request.resource,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'state-1',
  });
  const started = await browser.get(`${issuer}/auth?${params}`);
  if (started.status !== 303) throw new AuthorizationRefused(started.status, await started.text());
  let { response, leftTo } = await browser.follow(started);
  let consentHtml = '';
  for (let step = 0; step < 3 && !leftTo; step += 1) {
    const html = await response.text();
    const uid = /\/interaction\/([A-Za-z0-9_-]+)\/(login|confirm)/.exec(html);
    if (!uid) throw new Error(`expected a sign-in or consent page, got ${response.status}: ${html}`);
    const action = `/interaction/${uid[1]}/${uid[2]}`;
    const fields: Record<string, string> = { csrf: formToken(html, new URL(issuer).pathname.replace(/\/$/, '') + action) };
    if (uid[2] === 'login') Object.assign(fields, credentials);
    else {
      consentHtml = html;
      for (const box of html.matchAll(/<input type="checkbox" name="([^"]+)" checked>/g)) fields[box[1]!] = 'on';
      const duration = /<option value="(\d+)" selected>/.exec(html)?.[1];
      if (duration) fields.duration = duration;
    }
    ({ response, leftTo } = await browser.follow(await browser.post(`${issuer}${action}`, fields)));
  }
  const code = leftTo?.searchParams.get('code');
  if (!leftTo || !code) throw new AuthorizationRefused(response.status, `no code: ${leftTo?.href ?? (await response.text())}`);
  return { code, verifier, consentHtml, browser };
}

export class AuthorizationRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`authorization refused (${status}): ${/<p role="alert">([^<]*)</.exec(body)?.[1] ?? body}`);
  }
}

/** Redeems a code at the token endpoint as a public client. */
export async function redeemCode(issuer: string, request: PublicClientRequest, authorized: Pick<Authorized, 'code' | 'verifier'>) {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: authorized.code,
      redirect_uri: request.redirectUri,
      client_id: request.clientId,
      code_verifier: authorized.verifier,
      resource: request.resource,
    }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
