// The HTTP side of metrics and traces: `GET /metrics` on the public port (only with AGENTAUTH_METRICS_TOKEN, as a
// bearer token) or on a port of its own (AGENTAUTH_METRICS_PORT, loopback unless AGENTAUTH_METRICS_HOST says
// otherwise), and the timing and trace spans of the token endpoint and the admin API. Spans go through
// @opentelemetry/api: without an SDK registered by the operator (e.g. `node --import ./otel.mjs`) they cost nothing.
import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Middleware } from 'koa';
import type { Logger } from '../observability/logger.js';
import { metrics, type ServerMetrics } from '../observability/metrics.js';
import { isUnder, onlyFor } from './paths.js';

const tracer = trace.getTracer('agentauth');

/** Grant types worth a label of their own; anything a client sends beyond these is `other` (labels stay bounded). */
const KNOWN_GRANT_TYPES = new Set([
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:token-exchange',
  'urn:openid:params:grant-type:ciba',
  'urn:ietf:params:oauth:grant-type:device_code',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
]);

/** Constant-time comparison of a presented bearer token with the configured one (hashed first: equal lengths). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1] ?? '';
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(presented), digest(token)) && presented.length > 0;
}

/** `GET /metrics` on the public port, when a token is configured; otherwise the path is not served here. */
export function metricsRoute(serverMetrics: ServerMetrics, token: string | undefined): Middleware {
  if (token === undefined) return (_ctx, next) => next();
  return onlyFor((ctx) => ctx.path === '/metrics', async (ctx) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('Allow', 'GET, HEAD');
      return;
    }
    if (!bearerMatches(ctx.get('authorization') || undefined, token)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      ctx.body = { error: 'unauthorized', message: 'GET /metrics needs Authorization: Bearer <AGENTAUTH_METRICS_TOKEN>' };
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = serverMetrics.contentType;
    ctx.body = await serverMetrics.render();
  });
}

/** `/metrics` alone on its own port (no token: reaching the port is the permission, so it binds to loopback by default). */
export async function startMetricsServer(
  serverMetrics: ServerMetrics,
  options: { port: number; host: string; log: Logger },
): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    serverMetrics.render().then(
      (body) => res.writeHead(200, { 'content-type': serverMetrics.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body),
      (error: unknown) => {
        options.log.warn({ err: error }, 'could not collect metrics');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  options.log.info({ port, host: options.host }, 'metrics listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A span around every token request and admin API call, and the token endpoint's latency histogram. The grant
 * type is read after the provider parsed the request (nothing here parses a body in front of it).
 */
export function requestObservation(prefix: string): Middleware {
  const tokenPath = `${prefix}/token`;
  const adminPrefix = `${prefix}/admin/v1`;
  return async (ctx, next) => {
    const isToken = ctx.path === tokenPath && ctx.method === 'POST';
    const isAdmin = isUnder(ctx.path, adminPrefix);
    if (!isToken && !isAdmin) return next();
    const started = process.hrtime.bigint();
    const name = isToken ? 'POST /token' : `admin ${ctx.method}`;
    return tracer.startActiveSpan(name, { kind: SpanKind.SERVER, attributes: { 'http.request.method': ctx.method } }, async (span) => {
      try {
        await next();
      } catch (error) {
        span.recordException(error as Error);
        throw error;
      } finally {
        const status = ctx.status;
        span.setAttribute('http.response.status_code', status);
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        if (isToken) {
          const asked = (ctx as { oidc?: { params?: { grant_type?: unknown } } }).oidc?.params?.grant_type;
          const grantType = typeof asked === 'string' && KNOWN_GRANT_TYPES.has(asked) ? asked : 'other';
          span.setAttribute('oauth.grant_type', grantType);
          metrics.tokenRequestDuration.observe({ grant_type: grantType, status: String(status) }, Number(process.hrtime.bigint() - started) / 1e9);
        } else {
          // The route pattern (`/admin/v1/agents/:id`), never the ids in the path.
          const route = (ctx as { _matchedRoute?: unknown })._matchedRoute;
          if (typeof route === 'string') {
            span.updateName(`admin ${ctx.method} ${route}`);
            span.setAttribute('http.route', route);
          }
        }
        span.end();
      }
    });
  };
}
