// Lets oidc-provider's own introspection (RFC 7662) and revocation (RFC 7009) endpoints handle this server's JWT
// access tokens, which they refuse by design (`unsupported_token_type`, lib/shared/reject_structured_tokens.js).
//
// JWT access tokens are stored like opaque ones, under their `jti` (src/tokens/token-recorder.ts). In front of those
// two endpoints only, this middleware reads the form body as bytes, and when `token` is a JWT signed by one of our
// keys for our issuer replaces it with its jti: the handle oidc-provider looks tokens up by. A JWT that does not verify
// becomes a handle that matches nothing (inactive; revocation is a no-op, as RFC 7009 wants). The bytes are then
// handed back to the request stream, so oidc-provider still parses the body itself, with its own parser and limits.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { decodeProtectedHeader, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Middleware } from 'koa';
import { localJwks, type PublicJwks } from '../keys/local-jwks.js';

/** oidc-provider's own request body limit (lib/shared/selective_body.js). */
export const BODY_LIMIT = 56 * 1024;

export type JwtHandleOptions = {
  issuer: string;
  /** Paths of the introspection and revocation endpoints. */
  paths: string[];
  /** The public keys currently published (they change on rotation). */
  publicJwks: () => PublicJwks;
};

export function jwtTokenHandles(options: JwtHandleOptions): Middleware {
  const paths = new Set(options.paths);
  const keys = localJwks(options.publicJwks);

  return async (ctx, next) => {
    if (ctx.method !== 'POST' || !paths.has(ctx.path) || !ctx.is('application/x-www-form-urlencoded')) return next();
    const declared = ctx.request.length;
    if (declared !== undefined && declared > BODY_LIMIT) return next(); // oidc-provider refuses it unread

    const body = await readBody(ctx.req);
    if (body === undefined) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'request body too large' };
      return;
    }
    const params = new URLSearchParams(body.toString('utf8'));
    const tokens = params.getAll('token');
    if (tokens.length === 1 && looksLikeJwt(tokens[0]!)) {
      params.set('token', await handleFor(tokens[0]!, options.issuer, keys()));
      replayBody(ctx.req, Buffer.from(params.toString()));
    } else {
      replayBody(ctx.req, body);
    }
    return next();
  };
}

function looksLikeJwt(token: string): boolean {
  try {
    return Boolean(decodeProtectedHeader(token).alg);
  } catch {
    return false;
  }
}

async function handleFor(token: string, issuer: string, keys: JWTVerifyGetKey): Promise<string> {
  try {
    const { payload } = await jwtVerify(token, keys, { issuer, typ: 'at+jwt', clockTolerance: 0 });
    if (typeof payload.jti === 'string' && payload.jti.length > 0) return payload.jti;
  } catch {
    // forged, foreign or expired: fall through to a handle that matches nothing
  }
  return `unknown-${randomBytes(16).toString('base64url')}`;
}

export async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > BODY_LIMIT) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** Makes the already-read request stream readable again with these bytes, as oidc-provider's body reader expects. */
export function replayBody(req: IncomingMessage, body: Buffer): void {
  const replay = Readable.from([body]);
  req.headers['content-length'] = String(body.length);
  delete req.headers['transfer-encoding'];
  Object.defineProperty(req, 'readable', { configurable: true, get: () => replay.readable });
  Object.defineProperty(req, 'iterator', { configurable: true, value: replay.iterator.bind(replay) });
}
