// Liveness and readiness. /healthz answers while the process runs; /readyz answers 200 only while the database
// answers, so a load balancer stops sending traffic during an outage and resumes when it recovers.
import type { Middleware } from 'koa';
import { onlyFor } from './paths.js';

export function healthRoutes(ping: () => Promise<void>): Middleware {
  return onlyFor((ctx) => ctx.method === 'GET' || ctx.method === 'HEAD', async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' };
      return;
    }
    if (ctx.path === '/readyz') {
      try {
        await ping();
        ctx.body = { status: 'ready' };
      } catch {
        ctx.status = 503;
        ctx.body = { status: 'unavailable', reason: 'database unreachable' };
      }
      return;
    }
    return next();
  });
}
