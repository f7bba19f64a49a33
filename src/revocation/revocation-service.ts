// The one way anything is revoked: a token, an approval, an agent's tokens (kill switch), a human's delegations.
// When a call returns, every affected token, and every token derived from one of them further down a delegation
// chain (parent_jti), is marked revoked in its record and removed from oidc-provider's storage, so introspection,
// token exchange and refresh all refuse it at once, in every process (nothing is cached). The audit event commits
// in the same transaction, and so do the security events that tell resource servers (RFC 8936 poll feed,
// src/revocation/security-events.ts). Calls are idempotent: they answer how many tokens they newly revoked.
import type { AuditAction } from '../audit/actions.js';
import type { PrismaClient } from '../db/client.js';
import { Prisma } from '../../generated/prisma/client.js';
import { auditData, type AuditEventInput } from '../audit/audit-log.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { securityEventInsert } from './security-events.js';
import { metrics } from '../observability/metrics.js';

/** What a revocation reaches. */
export type RevocationTarget =
  | { jti: string }
  | { approvalId: string }
  | { agentId: string }
  | { userId: string }
  | { agentId: string; userId: string };

/** Who revokes, for the audit log. */
export type Revoker = Pick<AuditEventInput, 'actor' | 'requestId' | 'ip'>;

const TOKEN_MODELS = ['AccessToken', 'ClientCredentials', 'RefreshToken', 'IdJag'];

type Tx = Prisma.TransactionClient;

/** A cascade over many tokens outlasts Prisma's 5 s default; it must finish, not fail half-way with a 500. */
const CASCADE_TRANSACTION = { maxWait: 10_000, timeout: 60_000 };

export function createRevocationService(prisma: PrismaClient, hashId: (id: string) => string) {
  /** Tokens matching `roots`, and all their descendants, are marked revoked and their payloads deleted. */
  async function revokeTokens(tx: Tx, roots: Prisma.Sql, reason: string, revoker: Revoker): Promise<number> {
    // Set-based, whatever the count (an agent's kill switch may reach tens of thousands of tokens): one statement
    // marks the records and writes the security events; only jti and format come back, for the payload delete.
    const revoked = await tx.$queryRaw<Array<{ jti: string; format: string }>>`
      WITH RECURSIVE affected AS (
        SELECT jti FROM issued_tokens WHERE ${roots}
        UNION
        SELECT child.jti FROM issued_tokens child JOIN affected parent ON child.parent_jti = parent.jti
      ), revoked AS (
        UPDATE issued_tokens SET revoked_at = now(), revocation_reason = ${reason}
        WHERE jti IN (SELECT jti FROM affected) AND revoked_at IS NULL
        RETURNING jti, format, kind::text AS kind, subject, subject_kind, client_id, actor_chain, resource, audience, expires_at
      ), events AS (${securityEventInsert({ reason, initiator: revoker.actor.kind })})
      SELECT jti, format FROM revoked`;
    if (revoked.length > 0) {
      // JWTs are stored under the hash of their jti; opaque tokens are recorded under the stored id itself.
      const ids = revoked.map((token) => (token.format === 'jwt' ? hashId(token.jti) : token.jti));
      await tx.$executeRaw`DELETE FROM oidc_payloads WHERE model = ANY(${TOKEN_MODELS}::text[]) AND id = ANY(${ids}::text[])`;
      metrics.tokensRevoked.inc({ initiator: revoker.actor.kind }, revoked.length);
    }
    return revoked.length;
  }

  /**
   * What a revocation names in the audit log: the records' jtis (a JWT's jti, an opaque token's keyed hash), never a
   * value given to find them, which for an opaque token is the token itself.
   */
  async function recordedJtis(tx: Tx, candidates: string[]): Promise<string[]> {
    const rows = await tx.issuedToken.findMany({ where: { jti: { in: candidates } }, select: { jti: true } });
    return rows.map((row) => row.jti);
  }

  async function recordedTarget(tx: Tx, removed: { ids: string[] } | { grantId: string; kind: string }) {
    return 'ids' in removed ? { ids: await recordedJtis(tx, removed.ids) } : removed;
  }

  /** oidc-provider grants (and everything stored under them: codes, refresh tokens, ...) go too. */
  async function destroyGrants(tx: Tx, grantIds: string[]): Promise<void> {
    const ids = [...new Set(grantIds.filter(Boolean))];
    if (ids.length === 0) return;
    await tx.oidcPayload.deleteMany({ where: { OR: [{ grantId: { in: ids } }, { model: 'Grant', id: { in: ids } }] } });
  }

  async function revokeApprovals(tx: Tx, where: Prisma.ApprovalWhereInput, reason: string): Promise<string[]> {
    const approvals = await tx.approval.findMany({ where: { ...where, status: 'active' }, select: { id: true, grantId: true } });
    if (approvals.length === 0) return [];
    await tx.approval.updateMany({
      where: { id: { in: approvals.map((a) => a.id) } },
      data: { status: 'revoked', revokedAt: new Date(), revokedReason: reason },
    });
    await destroyGrants(tx, approvals.flatMap((a) => (a.grantId ? [a.grantId] : [])));
    return approvals.map((a) => a.id);
  }

  const chainHas = (agentId: string) => Prisma.sql`actor_chain @> ${JSON.stringify([{ sub: agentId }])}::jsonb`;
  /**
   * An agent's tokens: issued to it, acted on by it anywhere in the chain, or delegated to it (audience = the agent:
   * a token in its hands, which it would present as a subject token).
   */
  const agentTokens = (agentId: string) => Prisma.sql`(client_id = ${agentId} OR audience = ${agentId} OR ${chainHas(agentId)})`;

  async function audit(tx: Tx, revoker: Revoker, action: AuditAction, details: Record<string, unknown>, ids: { userId?: string; agentId?: string; clientId?: string }) {
    await tx.auditEvent.create({
      data: auditData({ ...revoker, action, outcome: 'success', userId: ids.userId, agentId: ids.agentId, clientId: ids.clientId, details }),
      select: { seq: true },
    });
  }

  return {
    /**
     * Tokens oidc-provider itself removes before they expire: a client revoking its own token (RFC 7009), or a
     * whole grant on refresh-token reuse. They go through the same cascade (derived tokens, security events) as
     * every other revocation; the caller deletes the stored payloads afterwards.
     */
    async revokeRemoved(removed: { ids: string[] } | { grantId: string; kind: 'access_token' | 'refresh_token' | 'id_jag' }, revoker: Revoker): Promise<number> {
      const reason = 'ids' in removed ? 'revoked by its client' : 'grant revoked (refresh token reuse or logout)';
      const roots = 'ids' in removed ? Prisma.sql`jti = ANY(${removed.ids})` : Prisma.sql`grant_id = ${removed.grantId} AND kind = ${removed.kind}::token_kind`;
      return prisma.$transaction(async (tx) => {
        const revoked = await revokeTokens(tx, roots, reason, revoker);
        if (revoked > 0) await audit(tx, revoker, 'revocation', { target: await recordedTarget(tx, removed), reason, tokens_revoked: revoked }, {});
        return revoked;
      });
    },

    async revoke(target: RevocationTarget, revoker: Revoker, reason = 'revoked by an administrator'): Promise<{ revoked: number }> {
      return prisma.$transaction(async (tx) => {
        let revoked = 0;
        let approvals: string[] = [];
        // The human and agent involved, for the audit event (so filtered audit queries find it).
        const involved: { userId?: string; agentId?: string } = {
          ...('userId' in target ? { userId: target.userId } : {}),
          ...('agentId' in target ? { agentId: target.agentId } : {}),
        };
        if ('jti' in target) {
          revoked = await revokeTokens(tx, Prisma.sql`jti = ${target.jti} OR jti = ${hashId(target.jti)}`, reason, revoker);
        } else if ('approvalId' in target) {
          const approval = await tx.approval.findUnique({ where: { id: target.approvalId }, select: { grantId: true, userId: true, agentId: true } });
          if (!approval) throw new NotFoundError(`no approval ${target.approvalId}`);
          Object.assign(involved, { userId: approval.userId, agentId: approval.agentId });
          approvals = await revokeApprovals(tx, { id: target.approvalId }, reason);
          const byGrant = approval.grantId ? Prisma.sql` OR grant_id = ${approval.grantId}` : Prisma.empty;
          revoked = await revokeTokens(tx, Prisma.sql`approval_id = ${target.approvalId}${byGrant}`, reason, revoker);
        } else if ('agentId' in target && 'userId' in target) {
          approvals = await revokeApprovals(tx, { agentId: target.agentId, userId: target.userId }, reason);
          const grants = await grantsOf(tx, { clientId: target.agentId, accountId: target.userId });
          await destroyGrants(tx, grants);
          revoked = await revokeTokens(
            tx,
            Prisma.sql`subject = ${target.userId} AND ${agentTokens(target.agentId)}`,
            reason,
            revoker,
          );
        } else if ('agentId' in target) {
          approvals = await revokeApprovals(tx, { agentId: target.agentId }, reason);
          await destroyGrants(tx, await grantsOf(tx, { clientId: target.agentId }));
          revoked = await revokeTokens(tx, agentTokens(target.agentId), reason, revoker);
        } else {
          approvals = await revokeApprovals(tx, { userId: target.userId }, reason);
          await destroyGrants(tx, await grantsOf(tx, { accountId: target.userId }));
          await tx.oidcPayload.deleteMany({ where: { model: 'Session', payload: { path: ['accountId'], equals: target.userId } } });
          revoked = await revokeTokens(tx, Prisma.sql`subject = ${target.userId}`, reason, revoker);
        }
        await audit(
          tx,
          revoker,
          'revocation',
          { target: 'jti' in target ? { jti: (await recordedJtis(tx, [target.jti, hashId(target.jti)]))[0] ?? hashId(target.jti) } : target, reason, tokens_revoked: revoked, approvals_revoked: approvals },
          involved,
        );
        return { revoked };
      }, CASCADE_TRANSACTION);
    },

    /** The kill switch: the agent is refused everything until activated; its tokens and approvals stop now. */
    async suspendAgent(agentId: string, revoker: Revoker): Promise<{ revoked: number }> {
      const agent = await prisma.agent.findUnique({ where: { id: agentId }, select: { status: true } });
      if (!agent) throw new NotFoundError(`no agent ${agentId}`);
      const result = await prisma.$transaction(async (tx) => {
        await tx.agent.update({ where: { id: agentId }, data: { status: 'suspended', suspendedAt: new Date() } });
        const approvals = await revokeApprovals(tx, { agentId }, 'agent suspended');
        await destroyGrants(tx, await grantsOf(tx, { clientId: agentId }));
        const revoked = await revokeTokens(tx, agentTokens(agentId), 'agent suspended', revoker);
        await audit(tx, revoker, 'agent.suspended', { tokens_revoked: revoked, approvals_revoked: approvals }, { agentId });
        return { revoked };
      }, CASCADE_TRANSACTION);
      return result;
    },

    /**
     * An app deleted for good: its grants (and the codes and refresh tokens under them) and every live token issued
     * to it go in the same transaction as `remove`, which deletes the app itself. Audited as `client.deleted`.
     */
    async removeClient(clientId: string, revoker: Revoker, remove: (tx: Tx) => Promise<void>): Promise<{ revoked: number }> {
      return prisma.$transaction(async (tx) => {
        const grants = await grantsOf(tx, { clientId });
        await destroyGrants(tx, grants);
        const revoked = await revokeTokens(tx, Prisma.sql`client_id = ${clientId}`, 'client deleted', revoker);
        await remove(tx);
        await audit(tx, revoker, 'client.deleted', { tokens_revoked: revoked, grants_destroyed: grants.length }, { clientId });
        return { revoked };
      });
    },

    /** Lifts the kill switch. No approval comes back: the human approves again. */
    async activateAgent(agentId: string, revoker: Revoker): Promise<void> {
      await prisma.$transaction(async (tx) => {
        const agent = await tx.agent.findUnique({ where: { id: agentId }, select: { status: true } });
        if (!agent) throw new NotFoundError(`no agent ${agentId}`);
        if (agent.status === 'active') throw new ConflictError('the agent is already active');
        await tx.agent.update({ where: { id: agentId }, data: { status: 'active', suspendedAt: null } });
        await audit(tx, revoker, 'agent.activated', {}, { agentId });
      });
    },
  };

  /** Grant ids oidc-provider holds for a client and/or account. */
  async function grantsOf(tx: Tx, match: { clientId?: string; accountId?: string }): Promise<string[]> {
    const conditions: Prisma.OidcPayloadWhereInput[] = [];
    if (match.clientId) conditions.push({ payload: { path: ['clientId'], equals: match.clientId } });
    if (match.accountId) conditions.push({ payload: { path: ['accountId'], equals: match.accountId } });
    const rows = await tx.oidcPayload.findMany({ where: { model: 'Grant', AND: conditions }, select: { id: true } });
    return rows.map((row) => row.id);
  }
}

export type RevocationService = ReturnType<typeof createRevocationService>;
