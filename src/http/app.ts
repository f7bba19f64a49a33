// The HTTP edge: one Koa application with the project's own routes and oidc-provider mounted under the issuer's
// path. Body parsing belongs to each route of ours, never in front of the provider (it parses its own bodies).
import Koa from 'koa';
import type { ProviderHost } from '../oauth/provider-host.js';
import type { Logger } from '../observability/logger.js';
import { healthRoutes } from './health.js';
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
};

export function createApp(deps: AppDependencies): Koa<RequestState> {
  const app = new Koa<RequestState>({ proxy: deps.trustProxy });
  // Koa prints unhandled errors to stderr by default; ours go to the structured log without request data.
  app.silent = true;
  app.on('error', (error: Error & { status?: number; expose?: boolean }) => {
    if (error.status && error.status < 500) return;
    deps.log.error({ err: { name: error.name, message: error.message, stack: error.stack } }, 'unhandled request error');
  });

  app.use(requestContext(deps.log));
  app.use(securityHeaders());
  app.use(healthRoutes(deps.ping));
  const prefix = deps.issuer.pathname.replace(/\/$/, '');
  for (const route of deps.routes) app.use(route);
  app.use(authorizationServerMetadata(prefix));
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
  return async (ctx, next) => {
    if (names.has(ctx.path)) ctx.path = `${prefix}/.well-known/openid-configuration`;
    await next();
  };
}

/**
 * A strict default policy, set before anything runs: pages replace it with their own, and oidc-provider adds the
 * hash of the inline script it needs (form_post, logout) to a policy that already exists, which it cannot do after.
 */
function securityHeaders(): Koa.Middleware {
  return async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    // An empty script-src allows no script; oidc-provider appends its hashes to it.
    ctx.set('Content-Security-Policy', "default-src 'none'; script-src; frame-ancestors 'none'");
    await next();
  };
}
