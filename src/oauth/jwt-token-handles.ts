// Lets oidc-provider's own introspection (RFC 7662) and revocation (RFC 7009) endpoints handle this server's JWT
// access tokens, which they refuse by design (`unsupported_token_type`, lib/shared/reject_structured_tokens.js).
//
// JWT access tokens are stored like opaque ones, under their `jti` (src/tokens/token-recorder.ts). In front of those
// two endpoints only, this middleware reads the form body as bytes, and when `token` is a JWT signed by one of our
// keys for our issuer replaces it with its jti: the handle oidc-provider looks tokens up by. A JWT that does not verify
// becomes a handle that matches nothing (inactive; revocation is a no-op, as RFC 7009 wants). The body was read (and
// checked) once by the HTTP edge (src/http/request-body.ts); a changed body is replayed to oidc-provider's parser.
import { randomBytes } from 'node:crypto';
import type { JWTPayload } from 'jose';
import type { Middleware } from 'koa';
import { onlyFor } from '../http/paths.js';
import { bufferedBody, replaceBody } from '../http/request-body.js';
import { isCompactJws, rememberingVerifier, type PublicJwks } from '../keys/local-jwks.js';

export type JwtHandleOptions = {
  issuer: string;
  /** Paths of the introspection and revocation endpoints. */
  paths: string[];
  /** The public keys currently published (they change on rotation). */
  publicJwks: () => PublicJwks;
};

export function jwtTokenHandles(options: JwtHandleOptions): Middleware {
  const paths = new Set(options.paths);
  const verify = rememberingVerifier(options.publicJwks, { issuer: options.issuer, typ: 'at+jwt', clockTolerance: 0 });

  return onlyFor((ctx) => ctx.method === 'POST' && paths.has(ctx.path) && Boolean(ctx.is('application/x-www-form-urlencoded')), async (ctx, next) => {
    const body = bufferedBody(ctx);
    const params = new URLSearchParams(body.toString('utf8'));
    const tokens = params.getAll('token');
    if (tokens.length === 1 && isCompactJws(tokens[0]!)) {
      params.set('token', await handleFor(tokens[0]!, verify));
      replaceBody(ctx, Buffer.from(params.toString()));
    }
    return next();
  });
}

async function handleFor(token: string, verify: (token: string) => Promise<JWTPayload>): Promise<string> {
  try {
    const payload = await verify(token);
    if (typeof payload.jti === 'string' && payload.jti.length > 0) return payload.jti;
  } catch {
    // forged, foreign or expired: fall through to a handle that matches nothing
  }
  return `unknown-${randomBytes(16).toString('base64url')}`;
}
