// The registry of resource servers: the audiences tokens are issued for, the scopes each defines (with the
// description a human reads on a consent screen and whether a scope needs a fresh approval every time), and the
// lifetime of access tokens for it. `resource` parameters and agents' audiences must name a registered identifier.
import type pg from 'pg';
import { z } from 'zod';
import { createBatcher } from '../db/batching.js';
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { ResourceFacts } from '../policy/facts.js';
import { canonicalResourceIdentifier } from './resource-identifier.js';

/** Seconds; access tokens live minutes, not hours. */
export const MAX_ACCESS_TOKEN_TTL = 3600;
export const DEFAULT_ACCESS_TOKEN_TTL = 300;

export const scopeSchema = z.object({
  name: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope is printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)')
    .refine((name) => !['openid', 'offline_access', 'profile', 'email'].includes(name), 'OpenID Connect scopes are built in'),
  description: z.string().min(1).max(500),
  requires_approval: z.boolean().default(false),
});

export const resourceSchema = z.object({
  identifier: z
    .string()
    .url()
    .refine((value) => canonicalResourceIdentifier(value) !== undefined, 'a resource identifier has no fragment (RFC 8707 §2)')
    // Stored in canonical form: what tokens carry as `aud`, whatever spelling registered it.
    .transform((value) => canonicalResourceIdentifier(value)!),
  name: z.string().min(1).max(200),
  scopes: z
    .array(scopeSchema)
    .refine((scopes) => new Set(scopes.map((s) => s.name)).size === scopes.length, 'scope names must be unique')
    .default([]),
  access_token_ttl: z.number().int().min(30).max(MAX_ACCESS_TOKEN_TTL).default(DEFAULT_ACCESS_TOKEN_TTL),
  /** Whether clients that arrive by themselves (CIMD, DCR) may be consented to here. */
  allow_dynamic_clients: z.boolean().default(true),
  /**
   * A remote resource: the issuer of the authorization server that serves it. Tokens for it are never issued here;
   * agents get an ID-JAG for that authorization server instead (token exchange, requested_token_type id-jag).
   */
  authorization_server: z
    .string()
    .url()
    .refine((value) => !value.includes('#') && !value.includes('?'), 'an issuer identifier has no query or fragment (RFC 8414 §2)')
    .nullable()
    .default(null),
});

export type ResourceScope = z.infer<typeof scopeSchema>;
export type NewResource = z.input<typeof resourceSchema>;

export type Resource = {
  id: string;
  identifier: string;
  name: string;
  scopes: ResourceScope[];
  accessTokenTtl: number;
  /** Clients that arrive by themselves (CIMD, DCR) may be consented to here. */
  allowDynamicClients: boolean;
  /** Served by another authorization server (its issuer): reached through an ID-JAG issued here. */
  authorizationServer: string | null;
};

export type ResourceRow = { id: string; identifier: string; name: string; scopes: Prisma.JsonValue; accessTokenTtl: number; allowDynamicClients: boolean; authorizationServer: string | null };

export const toResource = (row: ResourceRow): Resource => ({
  id: row.id,
  identifier: row.identifier,
  name: row.name,
  scopes: row.scopes as ResourceScope[],
  accessTokenTtl: row.accessTokenTtl,
  allowDynamicClients: row.allowDynamicClients,
  authorizationServer: row.authorizationServer,
});

/** A resource as the policy sees it (src/policy/facts.ts). */
export function toResourceFacts(resource: Resource): ResourceFacts {
  return {
    identifier: resource.identifier,
    scopes: resource.scopes.map((s) => s.name),
    approvalOnly: resource.scopes.filter((s) => s.requires_approval).map((s) => s.name),
    accessTokenTtl: resource.accessTokenTtl,
    allowDynamicClients: resource.allowDynamicClients,
    ...(resource.authorizationServer ? { authorizationServer: resource.authorizationServer } : {}),
  };
}

export class ResourceExistsError extends Error {
  override name = 'ResourceExistsError';
}

/** What may change about a registered resource; its identifier never does (tokens and agents name it). */
export type ResourceChanges = {
  name?: string | undefined;
  scopes?: ResourceScope[] | undefined;
  access_token_ttl?: number | undefined;
  allow_dynamic_clients?: boolean | undefined;
  authorization_server?: string | null | undefined;
};

type Writer = PrismaClient | Prisma.TransactionClient;

/** A resource's columns as `ResourceRow` names them (the token endpoint's reads select these, from resource_servers). */
export const RESOURCE_COLUMNS = `id::text AS id, identifier, name, scopes, access_token_ttl AS "accessTokenTtl",
         allow_dynamic_clients AS "allowDynamicClients", authorization_server AS "authorizationServer"`;

const FIND_BY_IDENTIFIER = `SELECT ${RESOURCE_COLUMNS} FROM resource_servers WHERE identifier = ANY($1::text[])`;

/**
 * `pool`, when given, serves the token endpoint's lookup by identifier: one named statement on the pg pool, with
 * concurrent lookups coalesced into one query. Read on every request, never cached, so a changed resource (scopes,
 * lifetime) applies in every process at once.
 */
export function createResourceStore(prisma: PrismaClient, pool?: pg.Pool) {
  const findBatched = pool
    ? createBatcher<string, Resource | undefined>({
        maxBatch: 64,
        maxInFlight: 1,
        async run(identifiers) {
          const { rows } = await pool.query<ResourceRow>({ name: 'agentauth_find_resources', text: FIND_BY_IDENTIFIER, values: [identifiers] });
          const byIdentifier = new Map(rows.map((row) => [row.identifier, row]));
          return identifiers.map((identifier) => {
            const row = byIdentifier.get(identifier);
            return row ? toResource(row) : undefined;
          });
        },
      })
    : undefined;
  return {
    /** `tx` lets callers commit the new resource together with their own writes (its audit event). */
    async create(input: NewResource, tx: Writer = prisma): Promise<Resource> {
      const resource = resourceSchema.parse(input);
      try {
        const row = await tx.resourceServer.create({
          data: {
            identifier: resource.identifier,
            name: resource.name,
            scopes: resource.scopes as Prisma.InputJsonValue,
            accessTokenTtl: resource.access_token_ttl,
            allowDynamicClients: resource.allow_dynamic_clients,
            authorizationServer: resource.authorization_server,
          },
        });
        return toResource(row);
      } catch (error) {
        if ((error as { code?: string }).code === 'P2002') throw new ResourceExistsError(`resource ${resource.identifier} is already registered`);
        throw error;
      }
    },

    /**
     * On the token endpoint for every resource-bound token: one plain query (see client-store findMetadata). Any
     * spelling of a registered identifier finds it (src/resources/resource-identifier.ts).
     */
    async findByIdentifier(identifier: string): Promise<Resource | undefined> {
      const canonical = canonicalResourceIdentifier(identifier);
      if (canonical === undefined) return undefined;
      if (findBatched) return findBatched(canonical);
      const [row] = await prisma.$queryRaw<Array<ResourceRow>>`
        SELECT id::text AS id, identifier, name, scopes, access_token_ttl AS "accessTokenTtl", allow_dynamic_clients AS "allowDynamicClients",
               authorization_server AS "authorizationServer"
        FROM resource_servers WHERE identifier = ${canonical}`;
      return row ? toResource(row) : undefined;
    },

    /** Identifiers of the resources that clients arriving by themselves (CIMD, DCR) may be consented to. */
    async openToDynamicClients(): Promise<string[]> {
      const rows = await prisma.resourceServer.findMany({ where: { allowDynamicClients: true }, select: { identifier: true }, orderBy: { identifier: 'asc' } });
      return rows.map((row) => row.identifier);
    },

    async list(): Promise<Resource[]> {
      return (await prisma.resourceServer.findMany({ orderBy: { identifier: 'asc' } })).map(toResource);
    },

    async findById(id: string): Promise<Resource | undefined> {
      if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
      const row = await prisma.resourceServer.findUnique({ where: { id } });
      return row ? toResource(row) : undefined;
    },

    /** A page of resources by identifier; `cursor` is the id of the last resource of the previous page. */
    async page(options: { limit: number; cursor?: string | undefined }) {
      const rows = await prisma.resourceServer.findMany({
        orderBy: { identifier: 'asc' },
        take: options.limit + 1,
        ...(options.cursor ? { cursor: { id: options.cursor }, skip: 1 } : {}),
      });
      const items = rows.slice(0, options.limit).map(toResource);
      return { items, nextCursor: rows.length > options.limit ? items.at(-1)!.id : null };
    },

    /**
     * Changes name, scopes or token lifetime. A scope may not be removed while an agent's or app's ceiling still needs
     * it (no other allowed resource of theirs defines it): they would be left with a scope nothing grants.
     */
    async update(id: string, changes: ResourceChanges, tx: Writer = prisma): Promise<{ before: Resource; after: Resource }> {
      const before = await this.findById(id);
      if (!before) throw new NotFoundError(`no resource ${id}`);
      const next = resourceSchema.parse({
        identifier: before.identifier,
        name: changes.name ?? before.name,
        scopes: changes.scopes ?? before.scopes,
        access_token_ttl: changes.access_token_ttl ?? before.accessTokenTtl,
        allow_dynamic_clients: changes.allow_dynamic_clients ?? before.allowDynamicClients,
        authorization_server: changes.authorization_server !== undefined ? changes.authorization_server : before.authorizationServer,
      });
      const kept = new Set(next.scopes.map((scope) => scope.name));
      const removed = before.scopes.map((scope) => scope.name).filter((name) => !kept.has(name));
      if (removed.length > 0) await refuseRemovingScopesInUse(tx, before.identifier, removed);
      const row = await tx.resourceServer.update({
        where: { id },
        data: {
          name: next.name,
          scopes: next.scopes as Prisma.InputJsonValue,
          accessTokenTtl: next.access_token_ttl,
          allowDynamicClients: next.allow_dynamic_clients,
          authorizationServer: next.authorization_server,
        },
      });
      return { before, after: toResource(row) };
    },
  };
}

export type ResourceStore = ReturnType<typeof createResourceStore>;

async function refuseRemovingScopesInUse(tx: Writer, identifier: string, removed: string[]): Promise<void> {
  // Agents' ceilings live in `agents`, apps' in `clients` (as `resources`): the same question of both, one after the
  // other (`tx` is a transaction: one connection, one query at a time; pg 9 refuses overlapping ones).
  const agentRows = await tx.agent.findMany({ where: { audiences: { has: identifier }, scopes: { hasSome: removed } }, select: { id: true, scopes: true, audiences: true } });
  const appRows = await tx.client.findMany({ where: { kind: 'app', resources: { has: identifier }, scopes: { hasSome: removed } }, select: { id: true, scopes: true, resources: true } });
  const agents = [
    ...agentRows.map((agent) => ({ ...agent, kind: 'agent' })),
    ...appRows.map((app) => ({ id: app.id, scopes: app.scopes, audiences: app.resources, kind: 'app' })),
  ];
  if (agents.length === 0) return;
  const others = await tx.resourceServer.findMany({
    where: { identifier: { in: [...new Set(agents.flatMap((agent) => agent.audiences))].filter((other) => other !== identifier) } },
    select: { identifier: true, scopes: true },
  });
  const definedBy = new Map(others.map((other) => [other.identifier, new Set((other.scopes as ResourceScope[]).map((scope) => scope.name))]));
  for (const agent of agents) {
    const stranded = removed.filter(
      (scope) => agent.scopes.includes(scope) && !agent.audiences.some((audience) => definedBy.get(audience)?.has(scope)),
    );
    if (stranded.length > 0) {
      throw new ConflictError(`${agent.kind} ${agent.id} still has ${stranded.join(', ')} in its scope ceiling: narrow the ${agent.kind} first`);
    }
  }
}
