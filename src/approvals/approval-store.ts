// Approvals: standing delegations a human gave an agent (these scopes, at these resources, until then). Token
// exchange consults them on every request; they are revoked through the revocation service, never deleted.
import type { Config } from '../config.js';
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { InvalidInputError, NotFoundError, type ErrorDetail } from '../errors.js';
import { standingApprovalProblems } from '../policy/decide.js';
import type { ClientFacts } from '../policy/facts.js';
import { toResourceFacts, type ResourceStore } from '../resources/resource-store.js';

export type ApprovalSource = 'consent' | 'ciba' | 'admin' | 'id_jag';

export type Approval = {
  id: string;
  userId: string;
  agentId: string;
  scopes: string[];
  resources: string[];
  expiresAt: Date;
  status: 'active' | 'revoked';
  grantedVia: ApprovalSource;
  grantId: string | null;
  createdAt: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
  /** The outside issuer that approved for the human (granted_via id_jag) and its assertion's jti; else null. */
  issuer: string | null;
  assertionJti: string | null;
};

/** An Identity Assertion JWT Authorization Grant was already redeemed (issuer and jti seen before). */
export class AssertionReplayedError extends Error {
  override name = 'AssertionReplayedError';
}

export type NewApproval = {
  userId: string;
  agentId: string;
  scopes: string[];
  resources: string[];
  expiresAt?: Date | undefined;
  grantedVia: ApprovalSource;
  grantId?: string | undefined;
};

const DAY = 86_400_000;

export function createApprovalStore(prisma: PrismaClient, deps: { resources: ResourceStore; config: Pick<Config, 'approvals'> }) {
  const { resources, config } = deps;

  /**
   * Checks an approval against the human, the agent (status) and the registry; what the agent may hold standing at
   * which resource is the policy's (src/policy/decide.ts). Answers the approval's expiry.
   */
  async function validate(input: Omit<NewApproval, 'grantedVia'>, tx: Prisma.TransactionClient | PrismaClient, now: Date): Promise<Date> {
    const problems: ErrorDetail[] = [];
    // One after the other: `tx` may be a transaction, whose one connection takes one query at a time (pg refuses
    // overlapping queries on a client from version 9; 8 warns).
    const user = await tx.user.findUnique({ where: { id: input.userId }, select: { status: true } });
    const agent = await tx.agent.findUnique({ where: { id: input.agentId }, select: { status: true, scopes: true, audiences: true, maxTokenTtl: true } });
    if (!user) problems.push({ path: 'user_id', message: 'no such user' });
    else if (user.status !== 'active') problems.push({ path: 'user_id', message: 'the user is disabled' });
    if (!agent) problems.push({ path: 'agent_id', message: 'no such agent' });
    else if (agent.status !== 'active') problems.push({ path: 'agent_id', message: 'the agent is suspended' });
    if (input.scopes.length === 0) problems.push({ path: 'scopes', message: 'name at least one scope' });
    if (input.resources.length === 0) problems.push({ path: 'resources', message: 'name at least one resource' });
    if (agent) {
      const client: ClientFacts = { id: input.agentId, kind: 'agent', active: agent.status === 'active', scopes: agent.scopes, resources: agent.audiences, maxTokenTtl: agent.maxTokenTtl };
      const registered = await Promise.all(input.resources.map(async (identifier) => {
        const resource = await resources.findByIdentifier(identifier);
        return { identifier, facts: resource ? toResourceFacts(resource) : undefined };
      }));
      problems.push(...standingApprovalProblems(client, registered, input.scopes));
    }
    const expiresAt = input.expiresAt ?? new Date(now.getTime() + config.approvals.defaultDays * DAY);
    if (expiresAt.getTime() <= now.getTime()) problems.push({ path: 'expires_at', message: 'must be in the future' });
    if (expiresAt.getTime() > now.getTime() + config.approvals.maxDays * DAY) {
      problems.push({ path: 'expires_at', message: `must be within ${config.approvals.maxDays} days` });
    }
    if (problems.length > 0) throw new InvalidInputError('the approval is not valid', problems);
    return expiresAt;
  }

  return {
    /** Validates and stores a new approval; `tx` lets callers commit it with their own writes (and its audit event). */
    async create(input: NewApproval, tx: Prisma.TransactionClient | PrismaClient = prisma, now = new Date()): Promise<Approval> {
      const expiresAt = await validate(input, tx, now);
      return tx.approval.create({
        data: {
          userId: input.userId,
          agentId: input.agentId,
          scopes: [...new Set(input.scopes)],
          resources: [...new Set(input.resources)],
          expiresAt,
          grantedVia: input.grantedVia,
          grantId: input.grantId ?? null,
        },
      });
    },

    /**
     * A redeemed ID-JAG as the approval it stands for: the enterprise IdP approved these scopes at this resource for
     * the human, for one token. Stored as decided by the policy (nothing standing to validate); the unique (issuer,
     * jti) makes each assertion redeemable once, even across processes: a second redemption is AssertionReplayedError.
     */
    async recordAssertion(input: { userId: string; agentId: string; scopes: string[]; resource: string; expiresAt: Date; issuer: string; jti: string }, tx: Prisma.TransactionClient | PrismaClient = prisma): Promise<Approval> {
      try {
        return await tx.approval.create({
          data: {
            userId: input.userId,
            agentId: input.agentId,
            scopes: [...new Set(input.scopes)],
            resources: [input.resource],
            expiresAt: input.expiresAt,
            grantedVia: 'id_jag',
            issuer: input.issuer,
            assertionJti: input.jti,
          },
        });
      } catch (error) {
        if ((error as { code?: string }).code === 'P2002') throw new AssertionReplayedError(`the assertion ${input.jti} of ${input.issuer} was already redeemed`);
        throw error;
      }
    },

    /** Removes an approval whose token was never issued (the request failed after recording it): nothing half-written. */
    async discard(id: string, tx: Prisma.TransactionClient | PrismaClient = prisma): Promise<void> {
      await tx.approval.deleteMany({ where: { id } });
    },

    /**
     * A human changed an approval they gave (consent for more or fewer scopes, another duration): same id, so tokens
     * already issued under it stay linked to it. Only an active approval changes; a withdrawn one stays withdrawn.
     */
    async update(id: string, change: Pick<NewApproval, 'scopes' | 'resources' | 'expiresAt'>, tx: Prisma.TransactionClient | PrismaClient = prisma, now = new Date()): Promise<Approval> {
      const current = await this.get(id);
      if (current.status !== 'active') throw new NotFoundError(`no active approval ${id}`);
      const expiresAt = await validate({ ...change, userId: current.userId, agentId: current.agentId }, tx, now);
      return tx.approval.update({
        where: { id },
        data: { scopes: [...new Set(change.scopes)], resources: [...new Set(change.resources)], expiresAt },
      });
    },

    /**
     * The human's standing approval for this agent that a new consent or CIBA answer extends instead of adding a
     * second one: the newest active, unexpired approval that has a Grant behind it.
     */
    async extendable(userId: string, agentId: string, now = new Date()): Promise<Approval | undefined> {
      const row = await prisma.approval.findFirst({
        where: { userId, agentId, status: 'active', expiresAt: { gt: now }, grantId: { not: null } },
        orderBy: { createdAt: 'desc' },
      });
      return row ?? undefined;
    },

    /** The active approval created with an oidc-provider Grant (consent), if any. */
    async forGrant(grantId: string): Promise<Approval | undefined> {
      const row = await prisma.approval.findFirst({ where: { grantId, status: 'active' }, orderBy: { createdAt: 'desc' } });
      return row ?? undefined;
    },

    async get(id: string): Promise<Approval> {
      const row = /^[0-9a-f-]{36}$/i.test(id) ? await prisma.approval.findUnique({ where: { id } }) : null;
      if (!row) throw new NotFoundError(`no approval ${id}`);
      return row;
    },

    async list(options: {
      limit: number;
      cursor?: string | undefined;
      userId?: string | undefined;
      agentId?: string | undefined;
      status?: 'active' | 'revoked' | 'expired' | undefined;
    }, now = new Date()) {
      const where: Prisma.ApprovalWhereInput = {
        ...(options.userId ? { userId: options.userId } : {}),
        ...(options.agentId ? { agentId: options.agentId } : {}),
        ...(options.status === 'revoked' ? { status: 'revoked' } : {}),
        ...(options.status === 'active' ? { status: 'active', expiresAt: { gt: now } } : {}),
        ...(options.status === 'expired' ? { status: 'active', expiresAt: { lte: now } } : {}),
      };
      const rows = await prisma.approval.findMany({
        where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: options.limit + 1,
        ...(options.cursor ? { cursor: { id: options.cursor }, skip: 1 } : {}),
      });
      const items = rows.slice(0, options.limit);
      return { items, nextCursor: rows.length > options.limit ? items.at(-1)!.id : null };
    },

    /** Active, unexpired approvals from this human for this agent that include this resource, newest first. */
    async standing(userId: string, agentId: string, resource: string, now = new Date()): Promise<Approval[]> {
      return prisma.approval.findMany({
        where: { userId, agentId, status: 'active', expiresAt: { gt: now }, resources: { has: resource } },
        orderBy: { createdAt: 'desc' },
      });
    },
  };
}

export type ApprovalStore = ReturnType<typeof createApprovalStore>;

/** An approval's lifecycle state as the API shows it: expiry is derived, never stored. */
export function approvalState(approval: Pick<Approval, 'status' | 'expiresAt'>, now = new Date()): 'active' | 'revoked' | 'expired' {
  if (approval.status === 'revoked') return 'revoked';
  return approval.expiresAt.getTime() <= now.getTime() ? 'expired' : 'active';
}
