// The registry of resource servers: the audiences tokens are issued for, the scopes each defines (with the
// description a human reads on a consent screen and whether a scope needs a fresh approval every time), and the
// lifetime of access tokens for it. `resource` parameters and agents' audiences must name a registered identifier.
import { z } from 'zod';
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';

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
    .refine((value) => !new URL(value).hash, 'a resource identifier has no fragment (RFC 8707 §2)'),
  name: z.string().min(1).max(200),
  scopes: z
    .array(scopeSchema)
    .refine((scopes) => new Set(scopes.map((s) => s.name)).size === scopes.length, 'scope names must be unique')
    .default([]),
  access_token_ttl: z.number().int().min(30).max(MAX_ACCESS_TOKEN_TTL).default(DEFAULT_ACCESS_TOKEN_TTL),
});

export type ResourceScope = z.infer<typeof scopeSchema>;
export type NewResource = z.input<typeof resourceSchema>;

export type Resource = {
  id: string;
  identifier: string;
  name: string;
  scopes: ResourceScope[];
  accessTokenTtl: number;
};

type Row = { id: string; identifier: string; name: string; scopes: Prisma.JsonValue; accessTokenTtl: number };

const toResource = (row: Row): Resource => ({
  id: row.id,
  identifier: row.identifier,
  name: row.name,
  scopes: row.scopes as ResourceScope[],
  accessTokenTtl: row.accessTokenTtl,
});

export class ResourceExistsError extends Error {
  override name = 'ResourceExistsError';
}

export function createResourceStore(prisma: PrismaClient) {
  return {
    async create(input: NewResource): Promise<Resource> {
      const resource = resourceSchema.parse(input);
      try {
        const row = await prisma.resourceServer.create({
          data: {
            identifier: resource.identifier,
            name: resource.name,
            scopes: resource.scopes as Prisma.InputJsonValue,
            accessTokenTtl: resource.access_token_ttl,
          },
        });
        return toResource(row);
      } catch (error) {
        if ((error as { code?: string }).code === 'P2002') throw new ResourceExistsError(`resource ${resource.identifier} is already registered`);
        throw error;
      }
    },

    async findByIdentifier(identifier: string): Promise<Resource | undefined> {
      const row = await prisma.resourceServer.findUnique({ where: { identifier } });
      return row ? toResource(row) : undefined;
    },

    async list(): Promise<Resource[]> {
      return (await prisma.resourceServer.findMany({ orderBy: { identifier: 'asc' } })).map(toResource);
    },
  };
}

export type ResourceStore = ReturnType<typeof createResourceStore>;
