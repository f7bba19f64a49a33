// One admin API operation, declared once: method, path, input schemas, response schema and handler. The router
// (src/admin/index.ts) dispatches on these declarations and the OpenAPI document (src/admin/openapi.ts) is written
// from the very same ones, so every route is documented and every documented schema is the one that validates.
import type { Context } from 'koa';
import type { z } from 'zod';
import type { Revoker } from '../revocation/revocation-service.js';
import type { AdminKey } from './admin-keys.js';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export type AdminRequest<Q, B> = {
  ctx: Context;
  /** Path parameters; every `{id}` is a UUID (checked before the handler runs). */
  params: Record<string, string>;
  query: Q;
  body: B;
  /** The key that authenticated the request. */
  admin: AdminKey;
  /** Who acts, for the audit log and the revocation service: this admin key, this request, this address. */
  actor: Revoker;
};

/** Error statuses a route can answer besides 400/401/403 (which every authenticated route can). */
export type ErrorStatus = 404 | 409 | 413 | 415;

export type AdminRoute = {
  method: Method;
  /** OpenAPI-style path below /admin/v1, e.g. `/agents/{id}`. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string | undefined;
  query?: z.ZodType | undefined;
  body?: z.ZodType | undefined;
  status: number;
  response: z.ZodType;
  responseDescription: string;
  errors: ErrorStatus[];
  /** Path parameters that are not UUIDs, with the pattern they must match (anything else names nothing). */
  params?: Record<string, RegExp> | undefined;
  /** A POST that changes nothing (a dry run): auditor keys may call it too. */
  readOnly?: boolean | undefined;
  handle(request: AdminRequest<unknown, unknown>): Promise<unknown>;
};

type RouteDefinition<Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType> = {
  method: Method;
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  query?: Q;
  body?: B;
  status?: number;
  response: R;
  responseDescription?: string;
  errors?: ErrorStatus[];
  params?: Record<string, RegExp>;
  readOnly?: boolean;
  handle(request: AdminRequest<z.output<Q>, z.output<B>>): Promise<z.input<R>>;
};

/** Declares a route; the handler's input and output types follow from its schemas. */
export function defineRoute<Q extends z.ZodType = z.ZodUndefined, B extends z.ZodType = z.ZodUndefined, R extends z.ZodType = z.ZodType>(
  route: RouteDefinition<Q, B, R>,
): AdminRoute {
  return {
    ...route,
    status: route.status ?? 200,
    responseDescription: route.responseDescription ?? (route.status === 201 ? 'Created' : 'OK'),
    errors: route.errors ?? [],
    handle: route.handle as AdminRoute['handle'],
  };
}

/** A matcher for one route's path: `{name}` segments capture one path segment each. */
export function pathMatcher(path: string): (candidate: string) => Record<string, string> | undefined {
  const names: string[] = [];
  const pattern = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_match, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  const regex = new RegExp(`^${pattern}/?$`);
  return (candidate) => {
    const match = regex.exec(candidate);
    if (!match) return undefined;
    const params: Record<string, string> = {};
    try {
      names.forEach((name, i) => {
        params[name] = decodeURIComponent(match[i + 1]!);
      });
    } catch {
      return undefined; // a malformed %-escape names nothing
    }
    return params;
  };
}
