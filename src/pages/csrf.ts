// CSRF protection for the server-rendered forms (login, consent, logout confirmation, later /approvals): a signed
// double-submit token. The browser holds a random value in an httpOnly SameSite=Strict cookie; each form carries
// HMAC(server key, cookie value + ':' + purpose) in a hidden field. A forged cross-site POST has neither the cookie
// (SameSite) nor a way to compute the field (it cannot read the cookie and does not have the key), and a token
// minted for one form (purpose) is worthless for another.
//
// Cookies are scoped to the path of the page that owns the form (an interaction's `/interaction/<uid>`), so two
// sign-ins in two tabs each keep their own value instead of overwriting one shared cookie: SameSite=Strict means the
// first page of a sign-in, reached by a redirect from another site, never sees an existing cookie and always mints.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

/** Why a submitted form was refused (recorded in the audit event; the browser sees one generic page). */
export type CsrfFailure = 'missing_cookie' | 'missing_token' | 'invalid_token';

export type CsrfScope = {
  /** What the form does, e.g. `interaction/<uid>/login`: a token is only valid for the purpose it was minted for. */
  purpose: string;
  /** Cookie path: the page (and the form targets) below which the cookie is sent. */
  path: string;
};

export type CsrfGuard = {
  /** The hidden-field value for a form; reuses the browser's cookie when it sent one, else sets a new one. */
  issue(ctx: Context, scope: CsrfScope): string;
  /** Checks a submitted token in constant time; undefined means valid. */
  check(ctx: Context, scope: CsrfScope, presented: string | undefined): CsrfFailure | undefined;
};

export const CSRF_FIELD = 'csrf';
const COOKIE = 'agentauth.csrf';
const VALUE = /^[A-Za-z0-9_-]{43}$/;

/** The CSRF key: derived from the KEK, so it survives restarts and is the same on every replica. */
export function deriveCsrfKey(kek: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'agentauth pages csrf v1', 32));
}

export function createCsrfGuard(key: Buffer, options: { maxAgeSeconds?: number } = {}): CsrfGuard {
  const maxAge = (options.maxAgeSeconds ?? 3600) * 1000;
  const tokenFor = (cookieValue: string, purpose: string) =>
    createHmac('sha256', key).update(`${cookieValue}:${purpose}`, 'utf8').digest('base64url');
  const readCookie = (ctx: Context) => {
    const value = ctx.cookies.get(COOKIE, { signed: false });
    return value !== undefined && VALUE.test(value) ? value : undefined;
  };

  // Values minted during this response, by cookie path: a page with several forms must give them all tokens for
  // the one cookie it sets (the request's cookies do not show what the response is about to set).
  const minted = new WeakMap<Context, Map<string, string>>();

  return {
    issue(ctx, scope) {
      let value = minted.get(ctx)?.get(scope.path) ?? readCookie(ctx);
      if (!value) {
        value = randomBytes(32).toString('base64url');
        minted.set(ctx, (minted.get(ctx) ?? new Map<string, string>()).set(scope.path, value));
        ctx.cookies.set(COOKIE, value, {
          path: scope.path,
          httpOnly: true,
          sameSite: 'strict',
          secure: ctx.secure,
          signed: false,
          overwrite: true,
          maxAge,
        });
      }
      return tokenFor(value, scope.purpose);
    },

    check(ctx, scope, presented) {
      const value = readCookie(ctx);
      if (!value) return 'missing_cookie';
      if (!presented) return 'missing_token';
      // Compared as text: base64url decoding skips stray characters, so decoded bytes could match a mangled token.
      const expected = Buffer.from(tokenFor(value, scope.purpose));
      const given = Buffer.from(presented);
      // Length first: timingSafeEqual throws on unequal lengths, and the length of an HMAC is public anyway.
      return given.length === expected.length && timingSafeEqual(given, expected) ? undefined : 'invalid_token';
    },
  };
}
