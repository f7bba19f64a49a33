// AI agents as first-class identities: each has an owner (a human), a status (the kill switch), a scope ceiling,
// the audiences it may get tokens for and a maximum token lifetime. An agent is also an OAuth client with the same
// id; its client metadata is derived from the agent at lookup time (src/clients/client-store.ts), so a change here
// (suspension, a narrower ceiling) applies to the very next request.
import type { ClientMetadata } from 'oidc-provider';
import type { Config } from '../config.js';
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { ConflictError, InvalidInputError, NotFoundError, type ErrorDetail } from '../errors.js';
import { OIDC_SCOPES } from '../clients/client-store.js';
import type { IdentityLink } from '../federation/trusted-issuer-store.js';
import { ceilingProblems } from '../policy/decide.js';
import { toResourceFacts, type ResourceStore } from '../resources/resource-store.js';
import { canonicalOrSame } from '../resources/resource-identifier.js';
import { generateSecret, type SecretHasher } from '../secrets/secret-hasher.js';
import { randomUUID } from 'node:crypto';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const AGENT_AUTH_METHODS = ['private_key_jwt', 'client_secret_basic', 'client_secret_post'] as const;
export type AgentAuthMethod = (typeof AGENT_AUTH_METHODS)[number];
/** Agents that arrived by themselves are public clients (`none`): they prove nothing but their redirect URIs. */

/** The agent's client id at another authorization server (its issuer), named in ID-JAGs issued here for it. */
export type RemoteClientId = { authorization_server: string; client_id: string };

export type Agent = {
  id: string;
  name: string;
  description: string;
  /** Null for agents that arrived by themselves (CIMD, DCR): they act only for humans who consent. */
  ownerUserId: string | null;
  /** How the agent came to be: registered by an admin, or arrived by itself (Client ID Metadata Document, DCR). */
  origin: 'admin' | 'cimd' | 'dcr';
  status: 'active' | 'suspended';
  scopes: string[];
  audiences: string[];
  maxTokenTtl: number;
  tokenEndpointAuthMethod: AgentAuthMethod | 'none';
  jwks: { keys: unknown[] } | null;
  redirectUris: string[];
  suspendedAt: Date | null;
  /** First and last use of a self-arriving agent (null for admin-registered ones). */
  firstUsedAt: Date | null;
  lastUsedAt: Date | null;
  /** The humans who approved it (consent, CIBA or admin-provisioned), any status. */
  approvedBy: string[];
  /** Platform identities whose assertions authenticate it; when there are any, they are its only credential. */
  workloadIdentities: IdentityLink[];
  remoteClientIds: RemoteClientId[];
  createdAt: Date;
  updatedAt: Date;
};

export type NewAgent = {
  name: string;
  description?: string | undefined;
  ownerUserId: string;
  scopes: string[];
  audiences: string[];
  maxTokenTtl?: number | undefined;
  tokenEndpointAuthMethod: AgentAuthMethod;
  jwks?: { keys: unknown[] } | undefined;
  redirectUris?: string[] | undefined;
  workloadIdentities?: IdentityLink[] | undefined;
  remoteClientIds?: RemoteClientId[] | undefined;
};

/** Lists given replace the stored ones; `jwks: null` drops the agent's own keys (for one that has workload identities). */
export type AgentChanges = Partial<Omit<NewAgent, 'ownerUserId' | 'tokenEndpointAuthMethod' | 'jwks'>> & {
  ownerUserId?: string;
  jwks?: { keys: unknown[] } | null | undefined;
};

const agentInclude = {
  client: { select: { metadata: true } },
  approvals: { select: { userId: true }, distinct: ['userId'], orderBy: { userId: 'asc' } },
  workloadIdentities: { select: { issuer: true, subject: true }, orderBy: [{ issuer: 'asc' }, { subject: 'asc' }] },
} satisfies Prisma.AgentInclude;
type AgentRow = Prisma.AgentGetPayload<{ include: typeof agentInclude }>;

function toAgent(row: AgentRow): Agent {
  const metadata = row.client.metadata as ClientMetadata;
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    ownerUserId: row.ownerUserId,
    origin: row.origin,
    status: row.status,
    scopes: row.scopes,
    audiences: row.audiences,
    maxTokenTtl: row.maxTokenTtl,
    tokenEndpointAuthMethod: metadata.token_endpoint_auth_method as AgentAuthMethod | 'none',
    jwks: (metadata.jwks as { keys: unknown[] } | undefined) ?? null,
    redirectUris: (metadata.redirect_uris as string[] | undefined) ?? [],
    suspendedAt: row.suspendedAt,
    firstUsedAt: row.firstUsedAt,
    lastUsedAt: row.lastUsedAt,
    approvedBy: row.approvals.map((approval) => approval.userId),
    workloadIdentities: row.workloadIdentities,
    remoteClientIds: row.remoteClientIds as RemoteClientId[],
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/**
 * The OAuth client metadata of an agent (without secrets). An agent with workload identities is flagged
 * `workload_federation`: the client registry presents it to oidc-provider as the runtime authenticates it
 * (`runtimeClientMetadata` in src/clients/client-store.ts).
 */
export function agentClientMetadata(
  agent: Pick<Agent, 'id' | 'name' | 'tokenEndpointAuthMethod' | 'jwks' | 'redirectUris'> & { workloadIdentities?: readonly IdentityLink[] | undefined },
): ClientMetadata {
  const codeFlow = agent.redirectUris.length > 0;
  return {
    client_id: agent.id,
    client_name: agent.name,
    principal_kind: 'agent',
    token_endpoint_auth_method: agent.tokenEndpointAuthMethod,
    ...(agent.jwks ? { jwks: agent.jwks as ClientMetadata['jwks'] } : {}),
    ...(agent.workloadIdentities?.length ? { workload_federation: true } : {}),
    redirect_uris: agent.redirectUris,
    response_types: codeFlow ? ['code'] : [],
    grant_types: [TOKEN_EXCHANGE, 'client_credentials', ...(codeFlow ? ['authorization_code', 'refresh_token'] : [])],
  };
}

type Writer = PrismaClient | Prisma.TransactionClient;

export type AgentSummary = { id: string; name: string; description: string; ownerName: string };

const summarySelect = { id: true, name: true, description: true, owner: { select: { displayName: true, username: true } } } as const;

/** How a human is shown an agent: its name and description, and its owner's name (none for a self-arriving agent). */
function toSummary(agent: { id: string; name: string; description: string; owner: { displayName: string | null; username: string } | null }): AgentSummary {
  return { id: agent.id, name: agent.name, description: agent.description, ownerName: agent.owner ? (agent.owner.displayName ?? agent.owner.username) : '' };
}

export function createAgentStore(prisma: PrismaClient, deps: { resources: ResourceStore; secrets: SecretHasher; config: Pick<Config, 'agents'> }) {
  const { resources, secrets, config } = deps;

  /** Checks the parts of an agent that refer to other things: owner, audiences, scopes, lifetime, keys. */
  async function validate(agent: NewAgent | (Omit<AgentChanges, 'jwks'> & { tokenEndpointAuthMethod?: AgentAuthMethod; jwks?: { keys: unknown[] } | undefined })): Promise<void> {
    const problems: ErrorDetail[] = [];
    if (agent.ownerUserId !== undefined) {
      const owner = await prisma.user.findUnique({ where: { id: agent.ownerUserId }, select: { status: true } });
      if (!owner) problems.push({ path: 'owner_user_id', message: 'no such user' });
      else if (owner.status !== 'active') problems.push({ path: 'owner_user_id', message: 'the owner is disabled' });
    }
    if (agent.audiences !== undefined) {
      const registered = await Promise.all(agent.audiences.map(async (identifier) => {
        const resource = await resources.findByIdentifier(identifier);
        return { identifier, facts: resource ? toResourceFacts(resource) : undefined };
      }));
      problems.push(...ceilingProblems(registered, agent.scopes ?? [], { field: 'audiences', exempt: OIDC_SCOPES }));
    }
    if (agent.maxTokenTtl !== undefined && (agent.maxTokenTtl < 30 || agent.maxTokenTtl > config.agents.maxTokenTtl)) {
      problems.push({ path: 'max_token_ttl', message: `must be between 30 and ${config.agents.maxTokenTtl} seconds` });
    }
    // Workload identities are the agent's only credential: its platform signs its assertions.
    const federated = (agent.workloadIdentities?.length ?? 0) > 0;
    if (federated && agent.tokenEndpointAuthMethod !== undefined && agent.tokenEndpointAuthMethod !== 'private_key_jwt') {
      problems.push({ path: 'token_endpoint_auth_method', message: 'an agent with workload identities authenticates with its platform assertions (private_key_jwt): no other key is accepted for it' });
    }
    if (federated && agent.jwks?.keys.length) {
      problems.push({ path: 'jwks', message: 'an agent with workload identities authenticates with its platform assertions: no other key is accepted for it' });
    }
    if (!federated && agent.tokenEndpointAuthMethod === 'private_key_jwt' && !agent.jwks?.keys.length) {
      problems.push({ path: 'jwks', message: 'private_key_jwt needs the agent public keys (a JWKS) or workload_identities' });
    }
    if (problems.length > 0) throw new InvalidInputError('the agent is not valid', problems);
  }

  /** A workload identity names one agent: a pair another agent holds is a conflict. */
  async function refuseTakenWorkloadIdentities(links: IdentityLink[], agentId: string | undefined, tx: Writer): Promise<void> {
    if (links.length === 0) return;
    const taken = await tx.workloadIdentity.findFirst({
      where: { OR: links.map(({ issuer, subject }) => ({ issuer, subject })), ...(agentId ? { agentId: { not: agentId } } : {}) },
      select: { issuer: true, subject: true },
    });
    if (taken) throw new ConflictError(`the workload identity ${taken.subject} at ${taken.issuer} belongs to another agent`);
  }

  return {
    /** `tx` lets callers commit the new agent together with their own writes (its audit event). */
    async create(input: NewAgent, tx: Writer = prisma): Promise<{ agent: Agent; clientSecret?: string }> {
      await validate(input);
      const links = input.workloadIdentities ?? [];
      await refuseTakenWorkloadIdentities(links, undefined, tx);
      const id = randomUUID();
      const clientSecret = input.tokenEndpointAuthMethod === 'private_key_jwt' ? undefined : generateSecret('aa_as');
      const shape = {
        id,
        name: input.name,
        tokenEndpointAuthMethod: input.tokenEndpointAuthMethod,
        jwks: input.jwks ?? null,
        redirectUris: input.redirectUris ?? [],
        workloadIdentities: input.workloadIdentities,
      };
      const row = await tx.agent.create({
        data: {
          name: input.name,
          description: input.description ?? '',
          scopes: input.scopes,
          // Stored as registered (canonical): what tokens carry as aud and policies compare with.
          audiences: input.audiences.map(canonicalOrSame),
          maxTokenTtl: input.maxTokenTtl ?? config.agents.defaultTokenTtl,
          remoteClientIds: (input.remoteClientIds ?? []) as Prisma.InputJsonValue,
          ...(links.length > 0 ? { workloadIdentities: { create: links.map(({ issuer, subject }) => ({ issuer, subject })) } } : {}),
          ...(input.ownerUserId ? { owner: { connect: { id: input.ownerUserId } } } : {}),
          client: {
            create: {
              id,
              kind: 'agent',
              name: input.name,
              metadata: agentClientMetadata(shape) as Prisma.InputJsonValue,
              secretHash: clientSecret ? secrets.hash(clientSecret) : null,
            },
          },
        },
        include: agentInclude,
      });
      return { agent: toAgent(row), ...(clientSecret ? { clientSecret } : {}) };
    },

    /**
     * How a human is told who asks (consent, /approvals): the agent's name and description, its owner's name (none
     * for a client that arrived by itself), where it came from and where it sends the browser back to.
     */
    async describe(id: string): Promise<(AgentSummary & { origin: string; status: Agent['status']; redirectUris: string[] }) | undefined> {
      const agent = await prisma.agent.findUnique({
        where: { id },
        select: { ...summarySelect, origin: true, status: true, client: { select: { metadata: true } } },
      });
      if (!agent) return undefined;
      const redirectUris = ((agent.client.metadata as { redirect_uris?: unknown }).redirect_uris ?? []) as string[];
      return {
        ...toSummary(agent),
        origin: agent.origin,
        status: agent.status,
        redirectUris: redirectUris.filter((uri) => typeof uri === 'string'),
      };
    },

    async get(id: string): Promise<Agent> {
      const row = await prisma.agent.findUnique({ where: { id }, include: agentInclude });
      if (!row) throw new NotFoundError(`no agent ${id}`);
      return toAgent(row);
    },

    async list(options: {
      limit: number;
      cursor?: string | undefined;
      ownerUserId?: string | undefined;
      status?: Agent['status'] | undefined;
      origin?: Agent['origin'] | undefined;
    }) {
      const rows = await prisma.agent.findMany({
        where: {
          ...(options.ownerUserId ? { ownerUserId: options.ownerUserId } : {}),
          ...(options.status ? { status: options.status } : {}),
          ...(options.origin ? { origin: options.origin } : {}),
        },
        orderBy: { id: 'asc' },
        take: options.limit + 1,
        ...(options.cursor ? { cursor: { id: options.cursor }, skip: 1 } : {}),
        include: agentInclude,
      });
      const items = rows.slice(0, options.limit).map(toAgent);
      return { items, nextCursor: rows.length > options.limit ? items.at(-1)!.id : null };
    },

    async update(id: string, changes: AgentChanges, tx: Writer = prisma): Promise<Agent> {
      const current = await this.get(id);
      if (current.origin !== 'admin') {
        throw new ConflictError('this agent arrived by itself and is described by its own metadata: suspend it, or block its domain');
      }
      const jwks = changes.jwks === undefined ? current.jwks : changes.jwks;
      const workloadIdentities = changes.workloadIdentities ?? current.workloadIdentities;
      if (current.workloadIdentities.length > 0 && workloadIdentities.length === 0 && !jwks) {
        throw new InvalidInputError('the agent would have no credential', [
          { path: 'workload_identities', message: 'removing every workload identity leaves the agent unable to authenticate: give jwks in the same request' },
        ]);
      }
      const merged = { ...changes, audiences: changes.audiences ?? current.audiences, scopes: changes.scopes ?? current.scopes, workloadIdentities };
      await validate({ ...merged, tokenEndpointAuthMethod: current.tokenEndpointAuthMethod as AgentAuthMethod, jwks: jwks ?? undefined });
      const next = { ...current, ...Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) } as Agent;
      if (changes.workloadIdentities !== undefined) {
        await refuseTakenWorkloadIdentities(changes.workloadIdentities, id, tx);
        await tx.workloadIdentity.deleteMany({ where: { agentId: id } });
        await tx.workloadIdentity.createMany({ data: changes.workloadIdentities.map(({ issuer, subject }) => ({ issuer, subject, agentId: id })) });
      }
      const row = await tx.agent.update({
        where: { id },
        data: {
          name: next.name,
          description: next.description,
          scopes: next.scopes,
          audiences: next.audiences.map(canonicalOrSame),
          maxTokenTtl: next.maxTokenTtl,
          remoteClientIds: next.remoteClientIds as Prisma.InputJsonValue,
          ...(next.ownerUserId ? { owner: { connect: { id: next.ownerUserId } } } : {}),
          client: { update: { name: next.name, metadata: agentClientMetadata(next) as Prisma.InputJsonValue } },
        },
        include: agentInclude,
      });
      return toAgent(row);
    },

    /** A new secret, shown once; the old one stops working with the next request. */
    async rotateSecret(id: string, tx: Writer = prisma): Promise<string> {
      const agent = await this.get(id);
      if (agent.tokenEndpointAuthMethod === 'none') throw new ConflictError('this agent is a public client and has no secret');
      if (agent.workloadIdentities.length > 0) {
        throw new InvalidInputError('this agent authenticates with its platform assertions (workload identities) and has no secret', [
          { path: 'workload_identities', message: 'no secret is accepted for an agent with workload identities' },
        ]);
      }
      if (agent.tokenEndpointAuthMethod === 'private_key_jwt') {
        throw new InvalidInputError('this agent authenticates with private_key_jwt and has no secret', [
          { path: 'token_endpoint_auth_method', message: 'private_key_jwt' },
        ]);
      }
      const clientSecret = generateSecret('aa_as');
      await tx.client.update({ where: { id }, data: { secretHash: secrets.hash(clientSecret) } });
      return clientSecret;
    },

    /** What a human is shown about agents: name, description and owner (for the /approvals page). */
    async summaries(ids: string[]): Promise<AgentSummary[]> {
      if (ids.length === 0) return [];
      return (await prisma.agent.findMany({ where: { id: { in: ids } }, select: summarySelect })).map(toSummary);
    },
  };
}

export type AgentStore = ReturnType<typeof createAgentStore>;
