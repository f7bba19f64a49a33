// Which part of the server a request path belongs to, and middleware that only some requests pass through.
import type { Context, Middleware } from 'koa';

/** Whether `path` is `base` itself or a path below it (`/admin/v1`, `/admin/v1/agents`; not `/admin/v10`). */
export const isUnder = (path: string, base: string): boolean => path === base || path.startsWith(`${base}/`);

/**
 * `middleware` for the requests `applies` accepts; every other request goes straight on, with no async frame of its
 * own. A pass-through `async (ctx, next) => { if (...) return next(); ... }` costs every request two promises and
 * their async hooks: the token endpoint went through a dozen of them (pages, admin API, metrics, health, discovery).
 */
export function onlyFor(applies: (ctx: Context) => boolean, middleware: Middleware): Middleware {
  return (ctx, next) => (applies(ctx) ? middleware(ctx, next) : next());
}
