// Every refused page form post is on the record once, with why: a form from elsewhere (CSRF, audited where it is
// checked as `csrf.rejected`), a sign-in that has ended, or a record that is not the human's (withdrawing someone
// else's approval is "not found" to them, and `page.refused` in the audit log). Handlers only throw PageErrors; this
// middleware, first among the pages' routes, writes the event after the refusal has been answered.
import type { Context, Middleware } from 'koa';
import { requestOrigin, type AuditLog } from '../audit/audit-log.js';
import { recordablePath } from '../http/input-rules.js';
import type { Logger } from '../observability/logger.js';
import type { PageError } from './page-error.js';

type RefusalState = { pageRefusal?: { status: number; reason: string }; refusalAudited?: boolean; log?: Logger };

/** Called where a PageError becomes a page. */
export function noteRefusal(ctx: Context, error: PageError): void {
  (ctx.state as RefusalState).pageRefusal = { status: error.status, reason: error.title };
}

/** The refusal already has its own audit event. */
export function markAudited(ctx: Context): void {
  (ctx.state as RefusalState).refusalAudited = true;
}

export function pageRefusalAudit(audit: AuditLog): Middleware {
  return async (ctx, next) => {
    await next();
    const state = ctx.state as RefusalState;
    if (ctx.method !== 'POST' || !state.pageRefusal || state.refusalAudited || state.pageRefusal.status >= 500) return;
    await audit.record({
      action: 'page.refused',
      outcome: 'failure',
      actor: { kind: 'human' },
      ...requestOrigin(ctx),
      details: { path: recordablePath(ctx.path), status: state.pageRefusal.status, reason: state.pageRefusal.reason },
    }).catch((error: unknown) => state.log?.warn({ err: error }, 'could not audit a refused form'));
  };
}
