// Clients that arrive by themselves (a Client ID Metadata Document, or Dynamic Client Registration) are recorded as
// agents without an owner (AI applications acting only for humans who consent): one `clients` row (kind agent, the
// metadata they presented) and one `agents` row (origin cimd/dcr) with the same id, so the kill switch, approvals,
// blocks, token records and the admin API treat them like every other agent. Also the admin's domain trust policy
// (allow list / deny list) for such clients.
import { randomUUID } from 'node:crypto';
import type { ClientMetadata } from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import { Prisma } from '../../generated/prisma/client.js';
import { NotFoundError } from '../errors.js';

export type DynamicOrigin = 'cimd' | 'dcr';
export type DomainRule = 'allow' | 'deny';
export type ClientDomain = { domain: string; rule: DomainRule; createdAt: Date };

/** What a lookup of a self-arriving client needs to know to let it in, in one round trip. */
export type DynamicClientState = {
  /** undefined: never seen (not recorded yet). */
  status: 'active' | 'suspended' | undefined;
  /** The most specific domain rule covering the host (its own, else its nearest parent's). */
  domainRule: DomainRule | undefined;
};

/** `last_used_at` is refreshed at most this often: a busy client does not write on every request. */
const LAST_USE_RESOLUTION_MS = 60_000;

/**
 * The reach of an agent that arrived by itself, kept in its agent row (what approvals and the admin API read):
 * every resource open to dynamic clients, every scope those define. Refreshed with each recorded use, so a resource
 * closed to dynamic clients drops out within a minute; the oidc-provider client carries the live list anyway.
 */
const OPEN_AUDIENCES = Prisma.sql`ARRAY(SELECT identifier FROM resource_servers WHERE allow_dynamic_clients ORDER BY identifier)`;
const OPEN_SCOPES = Prisma.sql`ARRAY(SELECT DISTINCT scope->>'name' FROM resource_servers, jsonb_array_elements(scopes) AS scope
  WHERE allow_dynamic_clients ORDER BY 1)`;

/** The host and each parent domain, most specific first: `a.b.example` → a.b.example, b.example, example. */
export function domainsOf(host: string): string[] {
  const labels = host.toLowerCase().replace(/\.$/, '').split('.');
  return labels.map((_label, i) => labels.slice(i).join('.'));
}

/** A domain rule's key: a lower-case host name without port or trailing dot. */
export function normalizeDomain(domain: string): string | undefined {
  const value = domain.trim().toLowerCase().replace(/\.$/, '');
  return /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(value) ? value : undefined;
}

export function createDynamicClientStore(prisma: PrismaClient, options: { defaultTokenTtl: number }) {
  return {
    /** The agent's status and the domain rule for `host`, in one query. */
    async state(clientId: string, host: string): Promise<DynamicClientState> {
      const [row] = await prisma.$queryRaw<Array<{ status: string | null; rule: string | null }>>`
        SELECT (SELECT status::text FROM agents WHERE id = ${clientId}) AS status,
               (SELECT rule::text FROM client_domains WHERE domain = ANY(${domainsOf(host)})
                ORDER BY length(domain) DESC LIMIT 1) AS rule`;
      return {
        status: (row?.status ?? undefined) as DynamicClientState['status'],
        domainRule: (row?.rule ?? undefined) as DomainRule | undefined,
      };
    },

    /**
     * Records a use: creates the agent the first time (with the metadata it presented), else refreshes its metadata
     * and `last_used_at` (at most once a minute). Safe under concurrent first uses.
     */
    async recordUse(clientId: string, origin: DynamicOrigin, metadata: ClientMetadata, expiresAt?: Date): Promise<void> {
      const name = String(metadata.client_name ?? clientId).slice(0, 200);
      const json = JSON.stringify(metadata);
      await prisma.$executeRaw`
        WITH client AS (
          INSERT INTO clients (id, kind, name, metadata, updated_at)
          VALUES (${clientId}, 'agent', ${name}, ${json}::jsonb, now())
          ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, metadata = EXCLUDED.metadata, updated_at = now()
            WHERE clients.metadata IS DISTINCT FROM EXCLUDED.metadata
        )
        INSERT INTO agents (id, name, origin, scopes, audiences, max_token_ttl, first_used_at, last_used_at, expires_at, updated_at)
        VALUES (${clientId}, ${name}, ${origin}::agent_origin, ${OPEN_SCOPES}, ${OPEN_AUDIENCES}, ${options.defaultTokenTtl}, now(), now(), ${expiresAt ?? null}, now())
        ON CONFLICT (id) DO UPDATE SET last_used_at = now(), expires_at = NULL, name = EXCLUDED.name,
          scopes = EXCLUDED.scopes, audiences = EXCLUDED.audiences, updated_at = now()
          WHERE agents.last_used_at IS NULL OR agents.last_used_at < now() - make_interval(secs => ${LAST_USE_RESOLUTION_MS / 1000})`;
    },

    /** A DCR registration: recorded now, unused until first seen at the authorization or token endpoint. */
    async register(metadata: ClientMetadata, expiresAt: Date): Promise<void> {
      const clientId = String(metadata.client_id);
      const name = String(metadata.client_name ?? clientId).slice(0, 200);
      await prisma.$transaction([
        prisma.client.create({ data: { id: clientId, kind: 'agent', name, metadata: metadata as Prisma.InputJsonValue } }),
        prisma.agent.create({
          data: { id: clientId, name, origin: 'dcr', scopes: [], audiences: [], maxTokenTtl: options.defaultTokenTtl, expiresAt },
        }),
      ]);
    },

    /** Marks a DCR registration used (its unused expiry no longer applies). */
    async markUsed(clientId: string): Promise<void> {
      await prisma.$executeRaw`
        UPDATE agents SET last_used_at = now(), first_used_at = COALESCE(first_used_at, now()), expires_at = NULL,
          scopes = ${OPEN_SCOPES}, audiences = ${OPEN_AUDIENCES}, updated_at = now()
        WHERE id = ${clientId} AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => ${LAST_USE_RESOLUTION_MS / 1000}))`;
    },

    /** Open-registration rate limit: how many registrations came from `ip` since `since`. */
    async registrationsSince(ip: string, since: Date): Promise<number> {
      return prisma.auditEvent.count({ where: { action: 'client.registered', ip, occurredAt: { gte: since } } });
    },

    /** Removes DCR registrations that were never used before their expiry; answers how many. */
    async sweepUnused(now = new Date()): Promise<number> {
      const { count } = await prisma.client.deleteMany({ where: { agent: { origin: 'dcr', firstUsedAt: null, expiresAt: { lt: now } } } });
      return count;
    },

    /** Agents of this origin whose id (CIMD: the document URL) or registered redirect host lies in `domain`. */
    async agentsInDomain(domain: string): Promise<string[]> {
      const rows = await prisma.agent.findMany({ where: { origin: { in: ['cimd', 'dcr'] } }, select: { id: true, client: { select: { metadata: true } } } });
      return rows
        .filter((row) => {
          const hosts = [hostOf(row.id), ...((row.client.metadata as ClientMetadata).redirect_uris ?? []).map(hostOf)];
          return hosts.some((host) => host !== undefined && domainsOf(host).includes(domain));
        })
        .map((row) => row.id);
    },

    domains: {
      async list(): Promise<ClientDomain[]> {
        return prisma.clientDomain.findMany({ orderBy: { domain: 'asc' } });
      },
      async put(domain: string, rule: DomainRule): Promise<ClientDomain> {
        return prisma.clientDomain.upsert({ where: { domain }, create: { domain, rule }, update: { rule } });
      },
      async remove(domain: string): Promise<ClientDomain> {
        const rule = await prisma.clientDomain.findUnique({ where: { domain } });
        if (!rule) throw new NotFoundError(`no rule for ${domain}`);
        await prisma.clientDomain.deleteMany({ where: { domain } });
        return rule;
      },
    },

    newRegistrationId: () => randomUUID(),
  };
}

function hostOf(uri: string): string | undefined {
  return URL.parse(uri)?.hostname.replace(/^\[|\]$/g, '') || undefined;
}

export type DynamicClientStore = ReturnType<typeof createDynamicClientStore>;
