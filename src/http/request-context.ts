// Gives every request an id (honouring a well-formed inbound X-Request-Id) and writes one access-log line per
// request. The logged path omits the query string: authorization requests carry codes and state there.
import { randomUUID } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type { Logger } from '../observability/logger.js';

const INBOUND_ID = /^[A-Za-z0-9._-]{8,128}$/;

export type RequestState = { requestId: string; log: Logger };

export function requestContext(log: Logger): Middleware<RequestState> {
  return async (ctx, next) => {
    const inbound = ctx.get('x-request-id');
    const requestId = INBOUND_ID.test(inbound) ? inbound : randomUUID();
    ctx.state.requestId = requestId;
    // The request's logger is made when something first logs through it: a pino child costs an allocation-heavy
    // copy of the redaction setup, and most requests write only the access log line below.
    let child: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', { get: () => (child ??= log.child({ request_id: requestId })) });
    ctx.set('X-Request-Id', requestId);
    // Read once, now: a socket that a refused or broken request has already destroyed has no address later, and
    // Koa's `ctx.ip` would throw inside the access log (and every audit writer) instead of naming the client.
    ctx.request.ip = clientIp(ctx);
    const started = performance.now();
    try {
      await next();
    } finally {
      try {
        const line = { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round((performance.now() - started) * 10) / 10, ip: ctx.ip };
        // The same line either way: a child's bindings come first, as request_id does here.
        if (child) child.info(line, 'request');
        else log.info({ request_id: requestId, ...line }, 'request');
      } catch {
        // The access log never breaks a response.
      }
    }
  };
}

function clientIp(ctx: Context): string {
  try {
    return ctx.ip;
  } catch {
    return '';
  }
}
