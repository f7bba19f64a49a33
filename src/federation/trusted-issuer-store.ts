// Outside JWT issuers this server trusts: workload platforms whose assertions authenticate agents (workload identity
// federation) and enterprise identity providers whose ID-JAGs are redeemed here. Each names its keys (inline or a
// jwks_uri), what it is trusted for, and optionally which clients and resources it is limited to. Links to it
// (humans' external identities, agents' workload identities) name it by its issuer string, exactly as `iss` spells it.
import net from 'node:net';
import type { PrismaClient } from '../db/client.js';
import { Prisma } from '../../generated/prisma/client.js';
import { ConflictError, InvalidInputError, NotFoundError, type ErrorDetail } from '../errors.js';
import type { ResourceStore } from '../resources/resource-store.js';

export const TRUSTED_ISSUER_PURPOSES = ['workload', 'id_jag'] as const;
export type TrustedIssuerPurpose = (typeof TRUSTED_ISSUER_PURPOSES)[number];

/** A link from a principal (human or agent) to its account at a trusted issuer. */
export type IdentityLink = { issuer: string; subject: string };

export type TrustedIssuer = {
  id: string;
  issuer: string;
  name: string;
  jwks: { keys: unknown[] } | null;
  jwksUri: string | null;
  purposes: TrustedIssuerPurpose[];
  /** Client ids that may use its assertions; empty: any client. */
  allowedClients: string[];
  /** Canonical resource identifiers its ID-JAGs may be redeemed for; empty: any registered resource. */
  allowedResources: string[];
  createdAt: Date;
  updatedAt: Date;
};

/** Exactly one of `jwks` and `jwksUri`; null or absent allow-lists mean "any". */
export type NewTrustedIssuer = {
  issuer: string;
  name?: string | undefined;
  jwks?: { keys: unknown[] } | undefined;
  jwksUri?: string | undefined;
  purposes: TrustedIssuerPurpose[];
  allowedClients?: string[] | null | undefined;
  allowedResources?: string[] | null | undefined;
};

/** The issuer never changes (links and records name it); a new key source replaces the old one. */
export type TrustedIssuerChanges = Partial<Omit<NewTrustedIssuer, 'issuer'>>;

type Writer = PrismaClient | Prisma.TransactionClient;

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** A loopback host as a URL spells it: localhost (and its subdomains), 127.0.0.0/8, ::1 (IPv4-mapped too). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = net.isIPv4(host) ? 'ipv4' : net.isIPv6(host) ? 'ipv6' : undefined;
  return family !== undefined && LOOPBACK.check(host, family);
}

type Row = Prisma.TrustedIssuerGetPayload<object>;

function toTrustedIssuer(row: Row): TrustedIssuer {
  return {
    id: row.id,
    issuer: row.issuer,
    name: row.name,
    jwks: (row.jwks as { keys: unknown[] } | null) ?? null,
    jwksUri: row.jwksUri,
    purposes: row.purposes,
    allowedClients: row.allowedClients,
    allowedResources: row.allowedResources,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function createTrustedIssuerStore(
  prisma: PrismaClient,
  deps: { resources: Pick<ResourceStore, 'findByIdentifier'>; allowLoopbackJwksUri: boolean },
) {
  /**
   * Checks what the issuer refers to and answers the allow-lists as stored: clients that exist, resources that are
   * registered (in their canonical spelling), and a jwks_uri this server would fetch.
   */
  async function resolve(input: Pick<NewTrustedIssuer, 'jwksUri' | 'allowedClients' | 'allowedResources'>): Promise<{ allowedClients: string[]; allowedResources: string[] }> {
    const problems: ErrorDetail[] = [];
    if (input.jwksUri !== undefined && isLoopbackHost(new URL(input.jwksUri).hostname) && !deps.allowLoopbackJwksUri) {
      problems.push({ path: 'jwks_uri', message: 'a loopback jwks_uri is fetched only with AGENTAUTH_CIMD_ALLOW_LOOPBACK=true (development and tests)' });
    }
    const allowedClients = [...new Set(input.allowedClients ?? [])];
    if (allowedClients.length > 0) {
      const found = new Set((await prisma.client.findMany({ where: { id: { in: allowedClients } }, select: { id: true } })).map((row) => row.id));
      allowedClients.forEach((id, i) => {
        if (!found.has(id)) problems.push({ path: `allowed_clients.${i}`, message: `no client ${id}` });
      });
    }
    const allowedResources: string[] = [];
    for (const [i, identifier] of (input.allowedResources ?? []).entries()) {
      const resource = await deps.resources.findByIdentifier(identifier);
      if (!resource) problems.push({ path: `allowed_resources.${i}`, message: `no registered resource ${identifier}` });
      else if (!allowedResources.includes(resource.identifier)) allowedResources.push(resource.identifier);
    }
    if (problems.length > 0) throw new InvalidInputError('the trusted issuer is not valid', problems);
    return { allowedClients, allowedResources };
  }

  async function get(id: string): Promise<TrustedIssuer> {
    const row = await prisma.trustedIssuer.findUnique({ where: { id } });
    if (!row) throw new NotFoundError(`no trusted issuer ${id}`);
    return toTrustedIssuer(row);
  }

  return {
    /** `tx` lets callers commit the new issuer together with their own writes (its audit event). */
    async create(input: NewTrustedIssuer, tx: Writer = prisma): Promise<TrustedIssuer> {
      const lists = await resolve(input);
      try {
        const row = await tx.trustedIssuer.create({
          data: {
            issuer: input.issuer,
            name: input.name ?? '',
            ...(input.jwks ? { jwks: input.jwks as Prisma.InputJsonValue } : {}),
            jwksUri: input.jwksUri ?? null,
            purposes: [...new Set(input.purposes)],
            ...lists,
          },
        });
        return toTrustedIssuer(row);
      } catch (error) {
        if ((error as { code?: string }).code === 'P2002') throw new ConflictError(`the issuer ${input.issuer} is already trusted`);
        throw error;
      }
    },

    get,

    /** A page of trusted issuers by issuer; `cursor` is the id of the last one of the previous page. */
    async list(options: { limit: number; cursor?: string | undefined }) {
      const rows = await prisma.trustedIssuer.findMany({
        orderBy: [{ issuer: 'asc' }, { id: 'asc' }],
        take: options.limit + 1,
        ...(options.cursor ? { cursor: { id: options.cursor }, skip: 1 } : {}),
      });
      const items = rows.slice(0, options.limit).map(toTrustedIssuer);
      return { items, nextCursor: rows.length > options.limit ? items.at(-1)!.id : null };
    },

    async update(id: string, changes: TrustedIssuerChanges, tx: Writer = prisma): Promise<{ before: TrustedIssuer; after: TrustedIssuer }> {
      const before = await get(id);
      const lists = await resolve({
        ...changes,
        allowedClients: changes.allowedClients === undefined ? before.allowedClients : changes.allowedClients,
        allowedResources: changes.allowedResources === undefined ? before.allowedResources : changes.allowedResources,
      });
      // Either key source given replaces the other: an issuer has exactly one.
      const keys = changes.jwks
        ? { jwks: changes.jwks as Prisma.InputJsonValue, jwksUri: null }
        : changes.jwksUri !== undefined
          ? { jwks: Prisma.DbNull, jwksUri: changes.jwksUri }
          : {};
      const row = await tx.trustedIssuer.update({
        where: { id },
        data: {
          ...(changes.name !== undefined ? { name: changes.name } : {}),
          ...(changes.purposes !== undefined ? { purposes: [...new Set(changes.purposes)] } : {}),
          ...keys,
          ...lists,
        },
      });
      return { before, after: toTrustedIssuer(row) };
    },

    /** Removes the issuer; links naming it stay but authenticate nothing until an issuer of that name is trusted again. */
    async delete(id: string, tx: Writer = prisma): Promise<TrustedIssuer> {
      const before = await get(id);
      await tx.trustedIssuer.delete({ where: { id } });
      return before;
    },

    /**
     * Checks links a human or an agent is given: each names an issuer trusted for `purpose`. Problems name the
     * admin API's fields (`<field>.N.issuer`).
     */
    async checkLinks(links: IdentityLink[], purpose: TrustedIssuerPurpose, field: string): Promise<void> {
      if (links.length === 0) return;
      const rows = await prisma.trustedIssuer.findMany({ where: { issuer: { in: [...new Set(links.map((link) => link.issuer))] } }, select: { issuer: true, purposes: true } });
      const purposes = new Map(rows.map((row) => [row.issuer, row.purposes]));
      const problems: ErrorDetail[] = links.flatMap((link, i) => {
        const trustedFor = purposes.get(link.issuer);
        if (!trustedFor) return [{ path: `${field}.${i}.issuer`, message: `${link.issuer} is not a trusted issuer` }];
        return trustedFor.includes(purpose) ? [] : [{ path: `${field}.${i}.issuer`, message: `${link.issuer} is not trusted for ${purpose}` }];
      });
      if (problems.length > 0) throw new InvalidInputError(`the ${field} are not valid`, problems);
    },
  };
}

export type TrustedIssuerStore = ReturnType<typeof createTrustedIssuerStore>;
