// Requests name resource servers in any spelling; oidc-provider compares `resource` values as strings (the Grant
// is keyed by them, a refresh must repeat the same one). In front of the endpoints that take `resource` this
// middleware rewrites each value to its canonical form (src/resources/resource-identifier.ts), in the query of a GET
// and in the form body of a POST (the one the edge read, replayed so oidc-provider still parses it itself), so the
// Grant, the approval and the token all hold the registered form. Values that are not URLs are left for
// oidc-provider to refuse (`invalid_target`).
import type { Middleware } from 'koa';
import { bufferedBody, replaceBody } from '../http/request-body.js';
import { canonicalResourceIdentifier } from '../resources/resource-identifier.js';

/** Rewrites every `resource` value; answers undefined when nothing changed. */
function canonicalize(params: URLSearchParams): URLSearchParams | undefined {
  const values = params.getAll('resource');
  const canonical = values.map((value) => canonicalResourceIdentifier(value) ?? value);
  if (canonical.every((value, i) => value === values[i])) return undefined;
  params.delete('resource');
  for (const value of canonical) params.append('resource', value);
  return params;
}

/** `paths`: the authorization, PAR, token and backchannel authentication endpoints. */
export function canonicalResourceParameters(paths: string[]): Middleware {
  const endpoints = new Set(paths);
  return (ctx, next) => {
    if (!endpoints.has(ctx.path)) return next();
    if (ctx.querystring.includes('resource=')) {
      const rewritten = canonicalize(new URLSearchParams(ctx.querystring));
      if (rewritten) ctx.querystring = rewritten.toString();
    }
    if (ctx.method === 'POST' && ctx.is('application/x-www-form-urlencoded')) {
      const body = bufferedBody(ctx);
      const rewritten = body.includes('resource=') ? canonicalize(new URLSearchParams(body.toString('utf8'))) : undefined;
      if (rewritten) replaceBody(ctx, Buffer.from(rewritten.toString()));
    }
    return next();
  };
}
