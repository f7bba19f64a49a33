// The admin API's OpenAPI 3.1 document, written from the route declarations and their zod schemas (zod 4's JSON
// Schema output is draft 2020-12, OpenAPI 3.1's dialect). Served without authentication: it describes the API and
// holds nothing about this deployment's data.
import { z } from 'zod';
import type { AdminRoute } from './route.js';
import {
  adminKeySchema,
  agentSchema,
  appSchema,
  approvalSchema,
  auditEventSchema,
  errorSchema,
  issuedTokenSchema,
  resourceSchema,
  revokedCountSchema,
  trustedIssuerSchema,
  userSchema,
} from './schemas.js';

type JsonSchema = Record<string, unknown>;

const ERROR_RESPONSES: Record<number, [string, string]> = {
  400: ['BadRequest', 'The request is not valid; `details` name each field by dotted path'],
  401: ['Unauthorized', 'No admin key, or one that is unknown or revoked'],
  403: ['Forbidden', 'An auditor key attempted a write'],
  404: ['NotFound', 'No such record'],
  409: ['Conflict', 'The request conflicts with the current state'],
  413: ['PayloadTooLarge', 'The body is larger than 64 KiB'],
  415: ['UnsupportedMediaType', 'The body is not application/json'],
};

/** Schemas that several routes answer or nest, documented once under their own name. */
const ENTITIES = new Map<z.ZodType, string>([
  [errorSchema, 'Error'],
  [adminKeySchema, 'AdminKey'],
  [userSchema, 'User'],
  [resourceSchema, 'Resource'],
  [agentSchema, 'Agent'],
  [appSchema, 'App'],
  [trustedIssuerSchema, 'TrustedIssuer'],
  [approvalSchema, 'Approval'],
  [issuedTokenSchema, 'IssuedToken'],
  [auditEventSchema, 'AuditEvent'],
  [revokedCountSchema, 'RevokedCount'],
]);

const componentName = (route: AdminRoute, part: 'Request' | 'Response') =>
  (part === 'Response' ? ENTITIES.get(route.response) : undefined) ?? `${route.operationId[0]!.toUpperCase()}${route.operationId.slice(1)}${part}`;

/** zod schemas as named components; requests in their input form (defaults optional), responses in their output form. */
function components(routes: AdminRoute[]): Record<string, JsonSchema> {
  const requests = z.registry<{ id: string }>();
  const responses = z.registry<{ id: string }>();
  for (const [schema, id] of ENTITIES) responses.add(schema, { id });
  for (const route of routes) {
    if (route.body) requests.add(route.body, { id: componentName(route, 'Request') });
    // A 204 answers no body, so it has no schema to document.
    if (route.status !== 204 && !responses.has(route.response)) responses.add(route.response, { id: componentName(route, 'Response') });
  }
  const uri = (id: string) => `#/components/schemas/${id}`;
  const strip = ({ $schema: _schema, $id: _id, ...rest }: JsonSchema) => rest;
  const converted = {
    ...z.toJSONSchema(requests, { io: 'input', uri }).schemas,
    ...z.toJSONSchema(responses, { io: 'output', uri }).schemas,
  };
  return Object.fromEntries(Object.entries(converted).map(([name, schema]) => [name, strip(schema as JsonSchema)]));
}

/** A strict query object as OpenAPI parameters, one per field. */
function queryParameters(query: z.ZodType | undefined): JsonSchema[] {
  if (!(query instanceof z.ZodObject)) return [];
  return Object.entries(query.shape as Record<string, z.ZodType>).map(([name, field]) => {
    const { $schema: _schema, description, ...schema } = z.toJSONSchema(field, { io: 'input' }) as JsonSchema;
    return { name, in: 'query', required: !field.safeParse(undefined).success, ...(description ? { description } : {}), schema };
  });
}

export function openApiDocument(routes: AdminRoute[], serverUrl: string): JsonSchema {
  const schemas = components(routes);

  const paths: Record<string, Record<string, JsonSchema>> = {
    '/openapi.json': {
      get: {
        operationId: 'getOpenApiDocument',
        tags: ['meta'],
        summary: 'This document (no authentication needed)',
        security: [],
        responses: { 200: { description: 'The OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
  };
  for (const route of routes) {
    const pathParameters = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => ({
      name: match[1],
      in: 'path',
      required: true,
      schema: route.params?.[match[1]!] ? { type: 'string', pattern: route.params[match[1]!]!.source } : { type: 'string', format: 'uuid' },
    }));
    const writes = route.method !== 'GET' && !route.readOnly;
    const errors = [400, 401, ...(writes ? [403] : []), ...route.errors, ...(route.body ? [413, 415] : [])];
    const operation: JsonSchema = {
      operationId: route.operationId,
      tags: [route.tag],
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      ...(writes ? { 'x-required-role': 'admin' } : {}),
      parameters: [...pathParameters, ...queryParameters(route.query)],
      ...(route.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${componentName(route, 'Request')}` } } } } }
        : {}),
      responses: {
        [route.status]: {
          description: route.responseDescription,
          ...(route.status === 204
            ? {}
            : { content: { 'application/json': { schema: { $ref: `#/components/schemas/${componentName(route, 'Response')}` } } } }),
        },
        ...Object.fromEntries([...new Set(errors)].sort().map((status) => [status, { $ref: `#/components/responses/${ERROR_RESPONSES[status]![0]}` }])),
      },
    };
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation;
  }

  return {
    openapi: '3.1.1',
    info: {
      title: 'agentauth admin API',
      version: '1',
      description:
        'Manage admin keys, humans, resource servers, agents, trusted issuers, apps (OAuth clients), approvals, issued tokens, revocations and the audit log. ' +
        'Authenticate with `Authorization: Bearer <admin key>`: role `admin` reads and writes, role `auditor` reads only. ' +
        'Lists answer `{ items, next_cursor }`; pass `cursor=<next_cursor>` for the next page until it is null.',
    },
    servers: [{ url: serverUrl }],
    security: [{ adminKey: [] }],
    tags: [...new Set(routes.map((route) => route.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { adminKey: { type: 'http', scheme: 'bearer', description: 'An admin key (aa_ak_...)' } },
      schemas,
      responses: Object.fromEntries(
        Object.values(ERROR_RESPONSES).map(([name, description]) => [
          name,
          { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        ]),
      ),
    },
  };
}
