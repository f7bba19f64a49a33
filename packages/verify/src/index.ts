// @agentauth/verify: what a resource server needs to accept agentauth access tokens, with jose as its only
// dependency (no database stack, no oidc-provider). It verifies an RFC 9068 `at+jwt` against the issuer's JWKS
// (issuer, audience, type, expiry), the DPoP proof when the token is sender-constrained (`cnf.jkt`, RFC 9449),
// optionally asks the introspection endpoint (RFC 7662) for calls where a revocation must count at once, and says
// who is acting: the human (if any) and the chain of agents, current one first. Koa and Express middlewares and the
// RFC 6750 / RFC 9728 `WWW-Authenticate` challenges are in ./middleware.ts.
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  EmbeddedJWK,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { VerifyError } from './errors.js';

export type AgentAuthVerifierOptions = {
  /** The authorization server's issuer identifier (`iss`). */
  issuer: string;
  /** This resource server's identifier, as registered at the authorization server (`aud`). */
  audience: string;
  /** Where the signing keys are; default `{issuer}/jwks`. */
  jwksUri?: string;
  /** A key set of your own (tests, pinned keys) instead of fetching `jwksUri`. */
  keys?: JWTVerifyGetKey;
  /** RFC 9728: the URL of this resource's protected resource metadata, named in every challenge. */
  resourceMetadataUrl?: string;
  /** For `introspect: true` calls: the resource server's own client at the authorization server. */
  introspection?: { endpoint?: string; clientId: string; clientSecret: string };
  /** Seconds of clock skew tolerated (default 5). */
  clockTolerance?: number;
  /** Seconds a DPoP proof stays acceptable after its `iat` (default 60). */
  dpopMaxAge?: number;
  /** Replaces the global fetch (introspection). */
  fetch?: typeof fetch;
};

/** The request as the verifier needs it; the middlewares build it from Koa or Express. */
export type PresentedRequest = {
  method: string;
  /** The absolute URL the client called (DPoP `htu`). */
  url: string;
  authorization?: string | undefined;
  dpop?: string | undefined;
};

export type VerifyOptions = {
  /** Every one of these scopes must be granted, or the answer is `insufficient_scope` naming them. */
  scopes?: string[];
  /** Ask the authorization server whether the token is still active (revocation-critical calls). */
  introspect?: boolean;
};

/** Who acts, and with what. */
export type VerifiedAccess = {
  /** The human the token acts for, or null when an agent or app acts for itself. */
  human: string | null;
  /** The acting agents, current one first, then whoever delegated to it, down to the first. */
  agents: string[];
  scopes: string[];
  client_id: string;
  /** The verified claims. */
  token: JWTPayload & { client_id: string; scope?: string; act?: Actor; cnf?: { jkt?: string }; sub_profile?: string };
};

type Actor = { sub: string; sub_profile?: string; act?: Actor };

export { challenge, VerifyError, type VerifyErrorCode } from './errors.js';

/** The agents of an `act` claim, current (outermost) first. */
export function actorChain(act: Actor | undefined): string[] {
  const chain: string[] = [];
  for (let actor = act; actor && typeof actor.sub === 'string'; actor = actor.act) chain.push(actor.sub);
  return chain;
}

async function sha256base64url(value: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value));
  return Buffer.from(digest).toString('base64url');
}

/** The `htu` a DPoP proof must name: the request URL without query and fragment (RFC 9449 §4.3). */
function htuOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

export function createVerifier(options: AgentAuthVerifierOptions) {
  const issuer = options.issuer.replace(/\/$/, '');
  const keys = options.keys ?? createRemoteJWKSet(new URL(options.jwksUri ?? `${issuer}/jwks`));
  const clockTolerance = options.clockTolerance ?? 5;
  const dpopMaxAge = options.dpopMaxAge ?? 60;
  const doFetch = options.fetch ?? fetch;
  // Proofs seen recently (RFC 9449 §11.1): a replayed proof is refused while it could still be fresh.
  const seenProofs = new Map<string, number>();

  function remember(jti: string, now: number): boolean {
    for (const [key, expires] of seenProofs) if (expires < now) seenProofs.delete(key);
    if (seenProofs.has(jti)) return false;
    seenProofs.set(jti, now + dpopMaxAge + clockTolerance);
    return true;
  }

  function presented(request: PresentedRequest): { scheme: 'bearer' | 'dpop'; token: string } {
    const match = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i.exec(request.authorization?.trim() ?? '');
    if (!match) throw new VerifyError('invalid_request', 'an access token is required', 401);
    return { scheme: match[1]!.toLowerCase() as 'bearer' | 'dpop', token: match[2]! };
  }

  async function checkDpop(request: PresentedRequest, token: string, jkt: string): Promise<void> {
    const refuse = (message: string) => new VerifyError('invalid_dpop_proof', message, 401, undefined, true);
    if (!request.dpop) throw refuse('this token is DPoP-bound: send a DPoP proof');
    let proof: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      proof = await jwtVerify(request.dpop, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256', 'EdDSA', 'RS256', 'PS256'], clockTolerance });
    } catch (error) {
      throw refuse(`the DPoP proof does not verify: ${(error as Error).message}`);
    }
    const { payload, protectedHeader } = proof;
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat !== 'number' || payload.iat > now + clockTolerance || payload.iat < now - dpopMaxAge - clockTolerance) {
      throw refuse('the DPoP proof is not fresh');
    }
    if (payload.htm !== request.method.toUpperCase()) throw refuse('the DPoP proof names another method');
    if (typeof payload.htu !== 'string' || htuOf(payload.htu) !== htuOf(request.url)) throw refuse('the DPoP proof names another URL');
    if (payload.ath !== (await sha256base64url(token))) throw refuse('the DPoP proof is for another access token');
    if ((await calculateJwkThumbprint(protectedHeader.jwk!)) !== jkt) throw refuse('the DPoP proof is signed with another key than the token is bound to');
    if (typeof payload.jti !== 'string' || !remember(payload.jti, now)) throw refuse('the DPoP proof was already used');
  }

  async function introspect(token: string): Promise<void> {
    if (!options.introspection) throw new Error('introspection is not configured');
    const { endpoint, clientId, clientSecret } = options.introspection;
    const response = await doFetch(endpoint ?? `${issuer}/token/introspection`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    });
    if (!response.ok) throw new Error(`introspection failed with HTTP ${response.status}`);
    const answer = (await response.json()) as { active?: unknown };
    if (answer.active !== true) throw new VerifyError('invalid_token', 'the access token was revoked', 401);
  }

  return {
    options,
    /** Verifies the request's access token; throws VerifyError with the status and challenge to answer. */
    async verify(request: PresentedRequest, verifyOptions: VerifyOptions = {}): Promise<VerifiedAccess> {
      const { scheme, token } = presented(request);
      let payload: VerifiedAccess['token'];
      try {
        ({ payload } = (await jwtVerify(token, keys, {
          issuer,
          audience: options.audience,
          typ: 'at+jwt',
          clockTolerance,
          requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'],
        })) as { payload: VerifiedAccess['token'] });
      } catch (error) {
        const message = error instanceof joseErrors.JWTExpired ? 'the access token expired' : error instanceof joseErrors.JOSEError ? `the access token is not valid: ${error.message}` : 'the access token is not valid';
        throw new VerifyError('invalid_token', message, 401);
      }
      const jkt = payload.cnf?.jkt;
      if (jkt) {
        if (scheme !== 'dpop') throw new VerifyError('invalid_token', 'this token is DPoP-bound: use the DPoP authorization scheme', 401, undefined, true);
        await checkDpop(request, token, jkt);
      } else if (scheme === 'dpop') {
        throw new VerifyError('invalid_token', 'this token is not DPoP-bound: use the Bearer scheme', 401);
      }
      const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
      const missing = (verifyOptions.scopes ?? []).filter((scope) => !scopes.includes(scope));
      if (missing.length > 0) {
        throw new VerifyError('insufficient_scope', `this call needs ${missing.join(' ')}`, 403, [...new Set([...scopes, ...missing])].join(' '), Boolean(jkt));
      }
      if (verifyOptions.introspect) await introspect(token);
      // The token says what its subject is (sub_profile): a human, or an agent or app acting for itself.
      const human = payload.sub_profile === 'user' ? payload.sub! : null;
      const agents = actorChain(payload.act);
      if (human === null && payload.sub_profile === 'ai_agent' && agents.length === 0) agents.push(payload.sub!);
      return { human, agents, scopes, client_id: payload.client_id, token: payload };
    },
  };
}

export type AgentAuthVerifier = ReturnType<typeof createVerifier>;

export { koaMiddleware, expressMiddleware, protectedResourceMetadata } from './middleware.js';
