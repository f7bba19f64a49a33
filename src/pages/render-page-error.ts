// Turns what a page handler throws into an error page: a PageError as its status and words, anything else as a
// generic 500 page (logged with its stack, never shown). Wraps handlers, not the middleware chain, so that errors
// of later middleware (oidc-provider) stay theirs. A refusal is noted on the request for the audit
// (src/pages/page-refusals.ts); a database outage is left to the HTTP edge (503, Retry-After).
import type { Context } from 'koa';
import type { Logger } from '../observability/logger.js';
import { isDatabaseUnavailable } from '../http/outage.js';
import { PageError } from './page-error.js';
import { noteRefusal } from './page-refusals.js';
import type { PageRenderer } from './views.js';

export function withPageErrors<C extends Context>(views: PageRenderer, handler: (ctx: C) => Promise<void>): (ctx: C) => Promise<void> {
  return async (ctx) => {
    try {
      await handler(ctx);
    } catch (error) {
      if (error instanceof PageError) {
        noteRefusal(ctx, error);
        for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
        return renderErrorPage(views, ctx, error.status, error.title, error.detail);
      }
      if (isDatabaseUnavailable(error)) throw error;
      (ctx.state as { log?: Logger }).log?.error({ err: error }, 'page failed');
      renderErrorPage(views, ctx, 500, 'Something went wrong', 'Please try again later. If it keeps happening, contact your administrator.');
    }
  };
}

export function renderErrorPage(views: PageRenderer, ctx: Context, status: number, title: string, detail: string): void {
  const requestId = (ctx.state as { requestId?: string }).requestId;
  views.render(ctx, 'error', { title, detail, requestId }, { status });
}
