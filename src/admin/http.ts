// The admin API's HTTP edge: JSON bodies (read here only, never in front of oidc-provider), input validation with
// zod, opaque list cursors, and the one place where errors become `{ error, message, details? }` responses. Nothing
// a client sends produces a 500 or a stack trace; a genuine server fault is logged and answered without internals.
import type { AdminErrorCode as ErrorCode } from '../errors.js';
import type { Context, Middleware } from 'koa';
import type { z } from 'zod';
import { BODY_LIMITS, bufferedBody } from '../http/request-body.js';
import { isDatabaseUnavailable } from '../http/outage.js';
import { ConflictError, InvalidInputError, NotFoundError, type ErrorDetail } from '../errors.js';
import { ResourceExistsError } from '../resources/resource-store.js';
import { UserInputError, UsernameTakenError } from '../humans/user-store.js';

export const JSON_BODY_LIMIT = BODY_LIMITS.admin;


/** An error the edge answers as is. */
export class AdminHttpError extends Error {
  override name = 'AdminHttpError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
  }
}

type ErrorBody = { error: ErrorCode; message: string; details?: ErrorDetail[] };

/** Maps every error below it to the admin error shape. */
export function errorBoundary(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      // An outage is the edge's to answer (503, Retry-After, logged once per interval).
      if (isDatabaseUnavailable(error)) throw error;
      const [status, body] = toResponse(error);
      if (status >= 500) {
        ctx.state.log?.error({ err: error }, 'admin API request failed');
      }
      ctx.status = status;
      ctx.body = body;
      if (status === 401 && !ctx.response.get('WWW-Authenticate')) ctx.set('WWW-Authenticate', 'Bearer realm="agentauth-admin"');
    }
  };
}

function toResponse(error: unknown): [number, ErrorBody] {
  if (error instanceof AdminHttpError) {
    return [error.status, { error: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) }];
  }
  if (error instanceof InvalidInputError) return [400, { error: 'invalid_request', message: error.message, details: error.details }];
  if (error instanceof NotFoundError) return [404, { error: 'not_found', message: error.message }];
  if (error instanceof ConflictError || error instanceof ResourceExistsError || error instanceof UsernameTakenError) {
    return [409, { error: 'conflict', message: error.message }];
  }
  if (error instanceof UserInputError) {
    return [400, { error: 'invalid_request', message: error.message, details: [{ path: error.field ?? '', message: error.message.replace(/^\w+: /, '') }] }];
  }
  if (isZodError(error)) return [400, { error: 'invalid_request', message: 'the request is not valid', details: zodDetails(error) }];
  // Races the stores did not foresee: a unique value taken, or a row gone, between the check and the write.
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'P2002') return [409, { error: 'conflict', message: 'a record with this value already exists' }];
  if (code === 'P2025') return [404, { error: 'not_found', message: 'no such record' }];
  return [500, { error: 'server_error', message: 'the server could not complete the request' }];
}

function isZodError(error: unknown): error is z.ZodError {
  return error instanceof Error && error.name === 'ZodError' && Array.isArray((error as z.ZodError).issues);
}

/** zod issues as `[{ path: 'scopes.0', message }]`; an unknown field is named by its own path. */
export function zodDetails(error: z.ZodError): ErrorDetail[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: path ? `${path}.${key}` : key, message: 'unknown field' }));
    }
    return [{ path, message: issue.message }];
  });
}

/** Validates `value` against `schema`; a failure is a 400 whose details name each field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new InvalidInputError(`the ${what} is not valid`, zodDetails(result.error));
  return result.data;
}

/**
 * The request body as JSON. An empty body counts as `{}` (so a missing body is reported field by field); anything
 * else must be `application/json`, uncompressed, at most `limit` bytes.
 */
export async function readJsonBody(ctx: Context, limit = JSON_BODY_LIMIT): Promise<unknown> {
  const declared = ctx.request.length;
  const hasBody = (declared !== undefined && declared > 0) || ctx.get('transfer-encoding') !== '';
  if (!hasBody) return {};
  if (!ctx.request.is('application/json')) {
    throw new AdminHttpError(415, 'invalid_request', 'send the body as application/json');
  }
  if ((ctx.get('content-encoding') || 'identity').toLowerCase() !== 'identity') {
    throw new AdminHttpError(415, 'invalid_request', 'compressed bodies are not accepted');
  }
  const tooLarge = () => new AdminHttpError(413, 'invalid_request', `the body is larger than ${limit / 1024} KiB`);
  if (declared !== undefined && declared > limit) throw tooLarge();

  // Read (once, within the limit) and checked against the input rule by the HTTP edge (src/http/edge.ts).
  const body = bufferedBody(ctx);
  if (body.length > limit) throw tooLarge();
  const text = body.toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AdminHttpError(400, 'invalid_request', 'the body is not valid JSON');
  }
}

// Cursors are opaque to clients: the store's own position (an id, a sequence number), tagged with the list it
// belongs to so that a cursor of one list is refused by another rather than misread.
export function encodeCursor(list: string, position: string | null): string | null {
  return position === null ? null : Buffer.from(`${list}:${position}`, 'utf8').toString('base64url');
}

export function decodeCursor(list: string, cursor: string | undefined, valid: RegExp): string | undefined {
  if (cursor === undefined) return undefined;
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const position = decoded.startsWith(`${list}:`) ? decoded.slice(list.length + 1) : '';
  if (!valid.test(position)) {
    throw new InvalidInputError('the cursor is not valid', [{ path: 'cursor', message: `not a cursor of this list (${list})` }]);
  }
  return position;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * An agent id: a UUID, or for an agent that arrived with a Client ID Metadata Document the document's https URL
 * (percent-encoded as one path segment in admin paths: `/admin/v1/agents/https%3A%2F%2Fapp.example%2Fclient.json`).
 */
export const AGENT_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|https:\/\/[^\s#]{1,2040})$/i;
