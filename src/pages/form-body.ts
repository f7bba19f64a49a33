// Form bodies for the pages' own POST routes: application/x-www-form-urlencoded only, at most 16 KiB, read here
// and nowhere in front of oidc-provider (which parses its own bodies). Anything else is the client's mistake and
// gets a 4xx page: a malformed body is never a 500.
import type { Context } from 'koa';
import { PageError } from './page-error.js';

export const FORM_BODY_LIMIT = 16 * 1024;

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

  const text = await readText(ctx, limit);
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

/** Reads the raw body as UTF-8, stopping (and refusing) as soon as it passes the limit. */
async function readText(ctx: Context, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of ctx.req) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > limit) throw tooLarge();
      chunks.push(buffer);
    }
  } catch (error) {
    if (error instanceof PageError) throw error;
    // The client went away or sent a broken stream: nothing to answer but a 400.
    throw new PageError(400, 'Malformed form submission', 'The form submission could not be read.');
  }
  return Buffer.concat(chunks).toString('utf8');
}
