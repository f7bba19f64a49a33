// The HTTP edge: one Koa application with the project's own routes and oidc-provider mounted under the issuer's
// path. Body parsing belongs to each route of ours, never in front of the provider (it parses its own bodies).
import Koa from 'koa';
import type { ProviderHost } from '../oauth/provider-host.js';
import type { Logger } from '../observability/logger.js';
import { edgeErrors, inputEdge, type EdgeDependencies } from './edge.js';
import { healthRoutes } from './health.js';
import { onlyFor } from './paths.js';
import { requestContext, type RequestState } from './request-context.js';

export type AppDependencies = {
  provider: ProviderHost;
  issuer: URL;
  log: Logger;
  ping: () => Promise<void>;
  trustProxy: boolean;
  /** The project's own routes (pages, admin API), served before the provider. */
  routes: Koa.Middleware[];
  /** Middleware that must see requests right before the provider does (token handle translation). */
  beforeProvider?: Koa.Middleware[];
  /** Error shapes, outage logging and the audit of refused input (src/http/edge.ts). */
  edge: Omit<EdgeDependencies, 'prefix' | 'log'>;
};

export function createApp(deps: AppDependencies): Koa<RequestState> {
  const app = new Koa<RequestState>({ proxy: deps.trustProxy });
  // Koa prints unhandled errors to stderr by default; ours go to the structured log without request data.
  app.silent = true;
  app.on('error', (error: Error & { status?: number; expose?: boolean }) => {
    if (error.status && error.status < 500) return;
    deps.log.error({ err: { name: error.name, message: error.message, stack: error.stack } }, 'unhandled request error');
  });

  const prefix = deps.issuer.pathname.replace(/\/$/, '');
  const edge: EdgeDependencies = { ...deps.edge, prefix, log: deps.log };
  app.use(requestContext(deps.log));
  app.use(securityHeaders());
  app.use(edgeErrors(edge));
  app.use(inputEdge(edge));
  app.use(healthRoutes(deps.ping));
  for (const route of deps.routes) app.use(route);
  app.use(authorizationServerMetadata(prefix));
  app.use(discoveryFromIssuer(prefix, deps.issuer));
  for (const middleware of deps.beforeProvider ?? []) app.use(middleware);
  app.use(deps.provider.middleware());
  return app;
}

/**
 * RFC 8414 metadata is the provider's discovery document under the RFC 8414 well-known name (inserted before the
 * issuer's path, and also accepted under it as many clients look there).
 */
function authorizationServerMetadata(prefix: string): Koa.Middleware {
  const names = new Set([`/.well-known/oauth-authorization-server${prefix}`, `${prefix}/.well-known/oauth-authorization-server`]);
  return (ctx, next) => {
    if (names.has(ctx.path)) ctx.path = `${prefix}/.well-known/openid-configuration`;
    return next();
  };
}

/**
 * oidc-provider writes its discovery document's URLs (jwks_uri, every endpoint) from the request's Host header; a
 * client must learn them from the configured issuer only, whatever Host it sent.
 */
function discoveryFromIssuer(prefix: string, issuer: URL): Koa.Middleware {
  const path = `${prefix}/.well-known/openid-configuration`;
  const configured = issuer.href.replace(/\/$/, '');
  return onlyFor((ctx) => ctx.path === path, async (ctx, next) => {
    await next();
    if (ctx.path !== path || ctx.status !== 200 || !ctx.body || typeof ctx.body !== 'object') return;
    const requested = `${ctx.protocol}://${ctx.host}${prefix}`;
    if (requested === configured) return;
    const rewrite = (value: unknown): unknown => {
      if (typeof value === 'string') return value === requested || value.startsWith(`${requested}/`) ? configured + value.slice(requested.length) : value;
      if (Array.isArray(value)) return value.map(rewrite);
      if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewrite(v)]));
      return value;
    };
    ctx.body = rewrite(ctx.body);
  });
}

/**
 * A strict default policy, set before anything runs: pages replace it with their own, and oidc-provider adds the
 * hash of the inline script it needs (form_post, logout) to a policy that already exists, which it cannot do after.
 */
function securityHeaders(): Koa.Middleware {
  return async (ctx, next) => {
    // Straight onto the response (nothing has been sent yet): Koa's `set` builds arrays and a map per call.
    ctx.res.setHeader('X-Content-Type-Options', 'nosniff');
    ctx.res.setHeader('Referrer-Policy', 'no-referrer');
    // An empty script-src allows no script; oidc-provider appends its hashes to it.
    ctx.res.setHeader('Content-Security-Policy', "default-src 'none'; script-src; frame-ancestors 'none'");
    return next();
  };
}
