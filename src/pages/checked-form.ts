// Every page form goes through here: the body is read, its CSRF token checked for the form's purpose before anything
// else, and a refusal audited (`csrf.rejected`) and answered with a 403 page saying what to do.
import type { Context } from 'koa';
import type { AuditLog } from '../audit/audit-log.js';
import type { RequestState } from '../http/request-context.js';
import { CSRF_FIELD, type CsrfGuard, type CsrfScope } from './csrf.js';
import { readForm, type FormFields } from './form-body.js';
import { PageError } from './page-error.js';
import { markAudited } from './page-refusals.js';

export async function checkedForm(
  ctx: Context,
  deps: { csrf: CsrfGuard; audit: AuditLog },
  scope: CsrfScope,
  /** What the person should do when the form is refused. */
  advice: string,
): Promise<FormFields> {
  const form = await readForm(ctx);
  const failure = deps.csrf.check(ctx, scope, form.get(CSRF_FIELD));
  if (failure) {
    await deps.audit.record({
      action: 'csrf.rejected',
      outcome: 'failure',
      actor: { kind: 'human' },
      requestId: (ctx.state as Partial<RequestState>).requestId,
      ip: ctx.ip,
      details: { path: ctx.path, reason: failure },
    });
    markAudited(ctx);
    throw new PageError(403, 'This form could not be accepted', advice);
  }
  return form;
}
