// The HTTP edge's two guards, in front of every route and of oidc-provider:
//  - `edgeErrors`: whatever a request throws ends here, answered in the shape of the surface it was sent to (RFC 6749
//    JSON on OAuth endpoints, `{error, message}` on the admin API, an error page on the human pages); a database
//    outage is a 503 with Retry-After (`temporarily_unavailable`), logged once per interval; nothing reaches Koa's
//    default handler, so the access log records the status the client really got.
//  - `inputEdge`: applies the one input rule (src/http/input-rules.ts) to the path, the query string, Basic
//    credentials and the body, read once with the surface's limit (src/http/request-body.ts); a refusal is a 400
//    (413 for a body over the limit, 415 for an encoded one), recorded in the audit log with the rule, never the value.
import type { Context, Middleware } from 'koa';
import type { Logger } from '../observability/logger.js';
import { checkAuthorization, checkJson, checkPath, checkUrlEncoded, decodeUtf8, InputRefusal, MAX_QUERY_LENGTH } from './input-rules.js';
import { isDatabaseUnavailable, OUTAGE_RETRY_AFTER_SECONDS, type OutageLog } from './outage.js';
import { isUnder } from './paths.js';
import { BODY_LIMITS, BodyTooLargeError, BodyUnreadableError, hasBody, readBody, type BodySurface } from './request-body.js';

/** Who answers a path, which decides the error shape and the body limit. */
export type Surface = 'oauth' | 'events' | 'admin' | 'pages';

export type EdgeDependencies = {
  /** The issuer's path ('' when the issuer is an origin). */
  prefix: string;
  log: Logger;
  outages: OutageLog;
  /** The pages' error page (src/pages/render-page-error.ts). */
  renderPage: (ctx: Context, status: number, title: string, detail: string) => void;
  /** Records a refused request (`request.refused`); must not throw. */
  auditRefusal: (ctx: Context, details: { rule: string; where: string; surface: Surface; status: number }) => Promise<void>;
};

/** oidc-provider endpoints a browser is sent to: their errors are pages, as oidc-provider's own are. */
const BROWSER_PATHS = /^\/(?:auth|session\/end)(?:\/|$)/;

export function surfaceOf(path: string, prefix: string): Surface {
  const local = prefix && path.startsWith(prefix) ? path.slice(prefix.length) || '/' : path;
  if (isUnder(local, '/admin/v1')) return 'admin';
  if (local === '/events/poll') return 'events';
  if (local.startsWith('/approvals') || local.startsWith('/interaction/') || BROWSER_PATHS.test(local)) return 'pages';
  return 'oauth';
}

const BODY_SURFACE: Record<Surface, BodySurface> = { oauth: 'oauth', events: 'events', admin: 'admin', pages: 'pages' };

/** Answers `status` in the surface's error shape. */
export function answer(ctx: Context, deps: Pick<EdgeDependencies, 'renderPage'>, surface: Surface, status: number, code: string, description: string): void {
  if (surface === 'pages') {
    const title = status === 503 ? 'Temporarily unavailable' : status === 413 ? 'Request too large' : status >= 500 ? 'Something went wrong' : 'This request could not be accepted';
    deps.renderPage(ctx, status, title, description);
    return;
  }
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = surface === 'admin' ? { error: code, message: description } : { error: code, error_description: description };
}

export function edgeErrors(deps: EdgeDependencies): Middleware {
  const outage = (ctx: Context, surface: Surface) => {
    answer(ctx, deps, surface, 503, surface === 'admin' ? 'service_unavailable' : 'temporarily_unavailable', 'the service is temporarily unavailable: try again shortly');
    ctx.set('Retry-After', String(OUTAGE_RETRY_AFTER_SECONDS));
  };
  return async (ctx, next) => {
    const surface = surfaceOf(ctx.path, deps.prefix);
    try {
      await next();
      // oidc-provider answers its own faults with 500 server_error; its `server_error` listener marks a database
      // outage on the request (src/oauth/provider.ts).
      if (ctx.status === 500 && (ctx.state as { databaseUnavailable?: boolean }).databaseUnavailable) outage(ctx, surface);
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        deps.outages.report(error);
        return outage(ctx, surface);
      }
      const status = (error as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500 && (error as { expose?: boolean }).expose) {
        return answer(ctx, deps, surface, status, 'invalid_request', (error as Error).message);
      }
      (ctx.state as { log?: Logger }).log?.error({ err: error, status: 500 }, 'request failed');
      answer(ctx, deps, surface, 500, 'server_error', 'the server could not complete the request');
    }
  };
}

export function inputEdge(deps: EdgeDependencies): Middleware {
  return async (ctx, next) => {
    const surface = surfaceOf(ctx.path, deps.prefix);
    try {
      checkPath(ctx.path);
      if (ctx.querystring.length > MAX_QUERY_LENGTH) throw new InputRefusal('length', 'the query string', `the query string is longer than ${MAX_QUERY_LENGTH} characters`);
      checkUrlEncoded(ctx.querystring, 'query');
      // Basic credentials are decoded and looked up only on the OAuth endpoints and the event poll; elsewhere a Basic
      // header is just the wrong scheme (the admin API answers 401).
      if (surface === 'oauth' || surface === 'events') checkAuthorization(ctx.get('authorization'));
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && hasBody(ctx)) await checkBody(ctx, surface);
    } catch (error) {
      const refusal = refusalOf(error);
      if (!refusal) throw error;
      if (refusal.status === 413) discardRest(ctx);
      answer(ctx, deps, surface, refusal.status, refusal.status === 404 && surface === 'admin' ? 'not_found' : 'invalid_request', refusal.message);
      await deps.auditRefusal(ctx, { rule: refusal.rule, where: refusal.where, surface, status: refusal.status });
      return;
    }
    await next();
  };
}

async function checkBody(ctx: Context, surface: Surface): Promise<void> {
  if ((ctx.get('content-encoding') || 'identity').toLowerCase() !== 'identity') {
    throw new EncodedBodyError();
  }
  const body = await readBody(ctx, BODY_LIMITS[BODY_SURFACE[surface]]);
  if (ctx.is('application/x-www-form-urlencoded')) {
    checkUrlEncoded(decodeUtf8(body, 'the body'), 'body');
  } else if (ctx.is('application/json', '+json')) {
    const text = decodeUtf8(body, 'the body');
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new InputRefusal('json', 'the body', 'the body is not valid JSON');
    }
    checkJson(parsed);
  }
}

class EncodedBodyError extends Error {}

/** Bytes of an over-limit body still drained after the 413, so the client reads the answer rather than a reset. */
const DRAIN_LIMIT = 1024 * 1024;

function discardRest(ctx: Context): void {
  let drained = 0;
  ctx.req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMIT) ctx.req.socket?.destroy();
  });
  ctx.req.resume();
}

function refusalOf(error: unknown): { status: number; rule: string; where: string; message: string } | undefined {
  // A path that is not valid text names nothing.
  if (error instanceof InputRefusal && error.where === 'the path') return { status: 404, rule: `input.${error.rule}`, where: error.where, message: 'there is nothing at this path' };
  if (error instanceof InputRefusal) return { status: 400, rule: `input.${error.rule}`, where: error.where, message: error.message };
  if (error instanceof BodyTooLargeError) return { status: 413, rule: 'body.too_large', where: 'the body', message: error.message };
  if (error instanceof BodyUnreadableError) return { status: 400, rule: 'body.unreadable', where: 'the body', message: error.message };
  if (error instanceof EncodedBodyError) return { status: 415, rule: 'body.encoding', where: 'the body', message: 'compressed request bodies are not accepted' };
  return undefined;
}
