// Form bodies for the pages' own POST routes: application/x-www-form-urlencoded only. The HTTP edge has already read
// the body (at most BODY_LIMITS.pages, 16 KiB) and checked every field against the input rule (src/http/edge.ts);
// this parses it. Anything else is the client's mistake and gets a 4xx page: a malformed body is never a 500.
import type { Context } from 'koa';
import { BODY_LIMITS, bufferedBody } from '../http/request-body.js';
import { PageError } from './page-error.js';

export const FORM_BODY_LIMIT = BODY_LIMITS.pages;

/** The submitted fields. A field sent more than once is treated as a malformed form. */
export type FormFields = { get(name: string): string | undefined };

export async function readForm(ctx: Context, limit = FORM_BODY_LIMIT): Promise<FormFields> {
  if (!ctx.request.is('application/x-www-form-urlencoded')) {
    throw new PageError(415, 'Unsupported form submission', 'This page only accepts forms submitted from its own pages.');
  }
  const encoding = (ctx.get('content-encoding') || 'identity').toLowerCase();
  if (encoding !== 'identity') {
    throw new PageError(415, 'Unsupported form submission', 'Compressed form submissions are not accepted.');
  }
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) throw tooLarge();

  const body = bufferedBody(ctx);
  if (body.length > limit) throw tooLarge();
  const text = body.toString('utf8');
  const params = new URLSearchParams(text);
  return {
    get(name) {
      const values = params.getAll(name);
      if (values.length > 1) throw new PageError(400, 'Malformed form submission', `The field "${name}" was sent more than once.`);
      return values[0];
    },
  };
}

function tooLarge(): PageError {
  return new PageError(413, 'Form submission too large', 'The submitted form is larger than this page accepts.');
}
