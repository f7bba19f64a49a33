// The one request body reader. The edge (src/http/edge.ts) reads every body once, up to the limit of the surface it
// was sent to, before any route or oidc-provider sees it; routes of ours take the bytes from here, and oidc-provider
// reads them from the request stream, replayed. So a body over the limit, sent with or without Content-Length, is
// refused in one place (413, in the surface's error shape) and never half-read by one reader and broken for another.
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';

/**
 * The documented limits, per surface (README "Request limits"). OAuth endpoints match oidc-provider's own limit
 * (lib/shared/selective_body.js), so every body it would accept still reaches it.
 */
export const BODY_LIMITS = {
  /** token, introspection, revocation, backchannel authentication and every other oidc-provider endpoint. */
  oauth: 56 * 1024,
  /** The security event poll (RFC 8936 JSON). */
  events: 64 * 1024,
  /** Forms of the human pages (sign-in, consent, approvals). */
  pages: 16 * 1024,
  /** Admin API JSON. */
  admin: 64 * 1024,
} as const;

export type BodySurface = keyof typeof BODY_LIMITS;

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  constructor(readonly limit: number) {
    super(`the request body is larger than ${limit / 1024} KiB`);
  }
}

export class BodyUnreadableError extends Error {
  override name = 'BodyUnreadableError';
}

const bodies = new WeakMap<IncomingMessage, Buffer>();

/** Whether the request says it carries a body. */
export function hasBody(ctx: Context): boolean {
  const declared = ctx.request.length;
  return (declared !== undefined && declared > 0) || ctx.get('transfer-encoding') !== '';
}

/** Reads the whole body (at most `limit` bytes, whatever Content-Length claims) and keeps it for the routes. */
export async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) throw new BodyTooLargeError(limit);
  // Listeners rather than `for await`: leaving an async iterator early destroys the request, and with it the socket
  // the 413 has to be written to.
  const { body: read, size } = await new Promise<{ body: Buffer[]; size: number }>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (error?: Error) => {
      ctx.req.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted);
      if (error) {
        ctx.req.pause();
        reject(error);
      } else {
        resolve({ body: chunks, size });
      }
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return stop(new BodyTooLargeError(limit));
      chunks.push(chunk);
    };
    const onEnd = () => stop();
    const onError = () => stop(new BodyUnreadableError('the request body could not be read'));
    const onAborted = onError;
    ctx.req.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted);
  });
  if (declared !== undefined && size !== declared) throw new BodyUnreadableError('the request body does not match its Content-Length');
  const body = Buffer.concat(read, size);
  bodies.set(ctx.req, body);
  replay(ctx.req, body);
  return body;
}

/** The body the edge read (empty when the request had none). */
export function bufferedBody(ctx: Context): Buffer {
  return bodies.get(ctx.req) ?? Buffer.alloc(0);
}

/** Replaces the body a later reader (oidc-provider) will see, e.g. with a JWT swapped for its handle. */
export function replaceBody(ctx: Context, body: Buffer): void {
  bodies.set(ctx.req, body);
  replay(ctx.req, body);
}

/**
 * Makes the already-read request readable again with these bytes, as oidc-provider's body reader expects
 * (lib/shared/selective_body.js: `req.readable`, then `for await` over `req.iterator()`): one chunk from a plain async
 * generator, readable until it was read, without a stream per request (measured on the token endpoint: the stream
 * replay cost ~4% of its CPU).
 */
function replay(req: IncomingMessage, body: Buffer): void {
  let read = false;
  async function* chunks(): AsyncGenerator<Buffer> {
    read = true;
    if (body.length > 0) yield body;
  }
  req.headers['content-length'] = String(body.length);
  delete req.headers['transfer-encoding'];
  Object.defineProperty(req, 'readable', { configurable: true, get: () => !read });
  Object.defineProperty(req, 'iterator', { configurable: true, value: () => chunks() });
  Object.defineProperty(req, Symbol.asyncIterator, { configurable: true, value: () => chunks() });
}
