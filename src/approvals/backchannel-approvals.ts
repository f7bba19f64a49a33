// Asynchronous human approval (OpenID CIBA, poll mode): an agent without a browser asks a human (login_hint) for
// scopes at one resource; the human answers on /approvals; the agent polls the token endpoint. oidc-provider runs the
// protocol (backchannel endpoint, the ciba grant); this module supplies its hooks and the rules around it:
//  - who may ask: agents only, not blocked by the human, within the pending-request limits (per agent, per agent+human);
//  - what may be asked: `openid` (oidc-provider requires it), one `resource` (the token is an RFC 9068 JWT with `act`)
//    and at least one of its scopes; a binding message in plain words (bounded length);
//  - what the agent gets: an access token only. `openid` alone never gives the agent the human's ID token; it gets
//    one only when it also asks for `profile` and the human keeps that;
//  - polling: `slow_down` when an agent polls within the interval, `expired_token` once the request has expired
//    (oidc-provider itself answers `authorization_pending` and `access_denied`).
// Approving saves the Grant and the approval (granted_via: ciba) together, then hands the Grant to oidc-provider.
import type { Middleware } from 'koa';
import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { recordAuditEvent } from '../audit/audit-log.js';
import type { Config } from '../config.js';
import type { PrismaClient } from '../db/client.js';
import type { Logger } from '../observability/logger.js';
import type { PendingRequest, PendingRequests } from '../pages/approvals.js';
import type { ResourceStore } from '../resources/resource-store.js';
import type { AgentBlockStore } from './agent-block-store.js';
import type { ApprovalStore } from './approval-store.js';
import type { ApprovalNotifier } from './notifier.js';

export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
/** Binding messages are shown to the human as they are: words and punctuation, one line, bounded. */
export const MAX_BINDING_MESSAGE = 120;
const BINDING_MESSAGE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]+$/u;
/** Lifetime of a request when the agent does not ask for less (requested_expiry). */
export const MAX_REQUEST_SECONDS = 600;
const USER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DAY = 86_400_000;

export type BackchannelDependencies = {
  prisma: PrismaClient;
  provider: () => Provider;
  approvals: ApprovalStore;
  blocks: AgentBlockStore;
  resources: ResourceStore;
  notifier: ApprovalNotifier;
  config: Pick<Config, 'ciba' | 'approvals'>;
  log: Logger;
  /** ciba_requests.id is the keyed hash of the auth_req_id (a bearer value), as oidc_payloads' id is (src/oauth/adapter.ts). */
  hashId: (authReqId: string) => string;
  /** Finds oidc-provider's request by that stored hash (src/oauth/adapter.ts, `storedReference`). */
  storedReference: (storedId: string) => string;
};

const words = (value: unknown) => (typeof value === 'string' ? value.split(' ').filter(Boolean) : []);

export function createBackchannelApprovals(deps: BackchannelDependencies) {
  const { prisma, config } = deps;
  const pendingWhere = (now: Date) => ({ status: 'pending' as const, expiresAt: { gt: now } });

  /** The hooks oidc-provider's `features.ciba` calls, in the order it calls them. */
  const hooks = {
    deliveryModes: ['poll'] as ['poll'],

    async validateBindingMessage(_ctx: KoaContextWithOIDC, message: string | undefined): Promise<void> {
      if (message === undefined) return;
      if (message.length > MAX_BINDING_MESSAGE || !BINDING_MESSAGE.test(message) || message.trim() === '') {
        throw new errors.InvalidBindingMessage(`binding_message must be 1 to ${MAX_BINDING_MESSAGE} characters of words and punctuation on one line`);
      }
    },

    /** Runs after scope and resource checks: the request must name one resource and ask for something there. */
    async validateRequestContext(ctx: KoaContextWithOIDC): Promise<void> {
      const resources = Object.entries(ctx.oidc.resourceServers ?? {});
      if (resources.length !== 1) throw new errors.InvalidRequest('name exactly one resource (resource=...): the access token is issued for it');
      const [, server] = resources[0]!;
      const offered = new Set(String((server as { scope?: string }).scope ?? '').split(' '));
      if (![...ctx.oidc.requestParamScopes].some((scope) => offered.has(scope))) {
        throw new errors.InvalidScope('ask for at least one scope of the resource (besides openid)', [...ctx.oidc.requestParamScopes].join(' '));
      }
    },

    /** login_hint names the human: their username, or their user id. */
    async processLoginHint(_ctx: KoaContextWithOIDC, hint?: string): Promise<string | undefined> {
      if (!hint || hint.length > 256) return undefined;
      const user = await prisma.user.findFirst({
        where: USER_ID.test(hint) ? { id: hint, status: 'active' } : { username: hint.trim().toLowerCase(), status: 'active' },
        select: { id: true },
      });
      return user?.id;
    },

    /** No user codes here; this is where the account is known, so the abuse limits and blocks are checked here. */
    async verifyUserCode(ctx: KoaContextWithOIDC, account: { accountId: string }): Promise<void> {
      const agentId = ctx.oidc.client!.clientId;
      if ((ctx.oidc.client as unknown as { principal_kind?: string }).principal_kind !== 'agent') {
        throw new errors.UnauthorizedClient('backchannel approval requests are for registered agents');
      }
      if (await deps.blocks.isBlocked(account.accountId, agentId)) {
        throw new errors.AccessDenied('the user has blocked this agent from asking');
      }
      const now = new Date();
      const [forAgent, forPair] = await Promise.all([
        prisma.cibaRequest.count({ where: { agentId, ...pendingWhere(now) } }),
        prisma.cibaRequest.count({ where: { agentId, userId: account.accountId, ...pendingWhere(now) } }),
      ]);
      if (forPair >= config.ciba.maxPendingPerAgentHuman) {
        throw new errors.AccessDenied(`this agent already has ${forPair} requests waiting for this user: wait for an answer before asking again`);
      }
      if (forAgent >= config.ciba.maxPendingPerAgent) {
        throw new errors.AccessDenied(`this agent already has ${forAgent} requests waiting: wait for answers before asking again`);
      }
    },

    /** The request is saved: record it for /approvals and tell the human. */
    async triggerAuthenticationDevice(ctx: KoaContextWithOIDC, request: InstanceType<Provider['BackchannelAuthenticationRequest']>, account: { accountId: string }, client: { clientId: string }): Promise<void> {
      const params = (request as unknown as { params?: Record<string, unknown> }).params ?? {};
      const bindingMessage = typeof params.binding_message === 'string' ? params.binding_message : undefined;
      const resources = ([] as unknown[]).concat(request.resource ?? []).map(String);
      const expiresAt = new Date(Date.now() + (request.expiration || MAX_REQUEST_SECONDS) * 1000);
      // Only what can be granted is shown: the resource's scopes within the agent's ceiling, and profile.
      const grantable = new Set(['openid', 'profile', ...Object.values(ctx.oidc.resourceServers ?? {}).flatMap((s) => words((s as { scope?: string }).scope))]);
      const scopes = words(request.scope).filter((scope) => grantable.has(scope));
      const row = await prisma.cibaRequest.create({
        data: { id: deps.hashId(request.jti), userId: account.accountId, agentId: client.clientId, scopes, resources, bindingMessage: bindingMessage ?? null, expiresAt },
      });
      await recordAuditEvent(prisma, {
        action: 'ciba.requested',
        outcome: 'success',
        actor: { kind: 'agent', id: client.clientId },
        agentId: client.clientId,
        userId: account.accountId,
        clientId: client.clientId,
        requestId: (ctx.state as { requestId?: string }).requestId,
        ip: ctx.ip,
        details: { ciba_request_id: row.id, scopes: row.scopes, resources, binding_message: bindingMessage },
      });
      const agent = await prisma.agent.findUnique({ where: { id: client.clientId }, select: { name: true } });
      // Not awaited: a slow or failing notifier must neither delay nor fail the agent's request; the human sees it on
      // /approvals either way.
      void deps.notifier
        .notify({ type: 'approval.requested', requestId: row.id, userId: row.userId, agentId: row.agentId, agentName: agent?.name ?? row.agentId, bindingMessage, scopes: row.scopes, resources, expiresAt })
        .catch((error: unknown) => deps.log.warn({ err: error }, 'approval notifier failed'));
    },
  };

  /**
   * Around oidc-provider's routes: advertises the polling interval in the backchannel response, answers `slow_down`
   * to a poll within the interval and `expired_token` for a request that has expired (oidc-provider no longer finds
   * it and would say invalid_grant).
   */
  const polling: Middleware = async (ctx, next) => {
    await next();
    const oidc = (ctx as unknown as KoaContextWithOIDC).oidc;
    if (!oidc) return;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (oidc.route === 'backchannel_authentication' && ctx.status === 200 && body?.auth_req_id) {
      body.interval = config.ciba.pollIntervalSeconds;
      return;
    }
    if (oidc.route !== 'token' || oidc.params?.grant_type !== CIBA_GRANT || typeof oidc.params.auth_req_id !== 'string') return;
    const id = deps.hashId(oidc.params.auth_req_id);
    const agentId = oidc.client?.clientId;
    if (!agentId || oidc.params.auth_req_id.length > 256) return;
    if (body?.error === 'authorization_pending') {
      // One conditional UPDATE: concurrent polls cannot both pass.
      const polled = await prisma.$executeRaw`
        UPDATE ciba_requests SET last_polled_at = now()
        WHERE id = ${id} AND agent_id = ${agentId}
          AND (last_polled_at IS NULL OR last_polled_at <= now() - make_interval(secs => ${config.ciba.pollIntervalSeconds}))`;
      if (polled === 0) {
        ctx.body = { error: 'slow_down', error_description: `poll at most every ${config.ciba.pollIntervalSeconds} seconds` };
      }
    } else if (body?.error === 'invalid_grant') {
      const row = await prisma.cibaRequest.findFirst({ where: { id, agentId }, select: { expiresAt: true, status: true } });
      if (row && row.expiresAt.getTime() <= Date.now()) {
        ctx.body = { error: 'expired_token', error_description: 'the backchannel authentication request has expired: ask again' };
      }
    }
  };

  const pending: PendingRequests = {
    async listFor(userId: string): Promise<PendingRequest[]> {
      const rows = await prisma.cibaRequest.findMany({ where: { userId, ...pendingWhere(new Date()) }, orderBy: { createdAt: 'asc' }, take: 100 });
      const agents = await prisma.agent.findMany({
        where: { id: { in: [...new Set(rows.map((r) => r.agentId))] } },
        select: { id: true, name: true, owner: { select: { displayName: true, username: true } } },
      });
      const agentOf = new Map(agents.map((a) => [a.id, a]));
      return Promise.all(
        rows.map(async (row) => {
          const agent = agentOf.get(row.agentId);
          return {
            id: row.id,
            agentId: row.agentId,
            agentName: agent?.name ?? row.agentId,
            ownerName: agent ? (agent.owner.displayName ?? agent.owner.username) : '',
            bindingMessage: row.bindingMessage ?? undefined,
            resources: row.resources,
            scopes: await offeredScopes(row.scopes, row.resources),
            expiresAt: row.expiresAt,
          };
        }),
      );
    },

    async answer(userId, id, answer, who) {
      const now = new Date();
      const row = await prisma.cibaRequest.findFirst({ where: { id, userId, ...pendingWhere(now) } });
      if (!row) return false;
      const provider = deps.provider();
      const request = await provider.BackchannelAuthenticationRequest.find(deps.storedReference(id));
      if (!request) return false;
      const audit = (action: string, details: Record<string, unknown>) =>
        recordAuditEvent(prisma, { action, outcome: 'success', actor: { kind: 'human', id: userId }, userId, agentId: row.agentId, clientId: row.agentId, ...who, details });

      // Claim the request first: two answers (two tabs, a double click) cannot both take effect.
      const claimed = await prisma.cibaRequest.updateMany({ where: { id, status: 'pending' }, data: { status: answer.approve ? 'approved' : 'denied', answeredAt: now } });
      if (claimed.count === 0) return false;

      if (!answer.approve) {
        await provider.backchannelResult(request, new errors.AccessDenied('the user denied the request'));
        await audit('ciba.denied', { scopes: row.scopes, resources: row.resources });
        return true;
      }

      const offeredList = await offeredScopes(row.scopes, row.resources);
      const offered = new Set(offeredList.map((s) => s.name));
      const chosen = answer.scopes.filter((scope) => offered.has(scope));
      const resourceScopes = chosen.filter((scope) => scope !== 'profile');
      const grant = new provider.Grant({ accountId: userId, clientId: row.agentId });
      // The human's ID token only when the agent asked for their profile and the human kept it.
      if (chosen.includes('profile')) grant.addOIDCScope('openid profile');
      for (const resource of row.resources) grant.addResourceScope(resource, resourceScopes.join(' '));
      const expiresAt = new Date(now.getTime() + config.approvals.defaultDays * DAY);
      (grant as unknown as { expiresIn: number }).expiresIn = Math.floor((expiresAt.getTime() - now.getTime()) / 1000);
      const grantId = await grant.save();
      // oidc-provider issues an ID token whenever the request said `openid`: the request keeps only what was granted.
      request.scope = [...(chosen.includes('profile') ? ['openid', 'profile'] : []), ...resourceScopes].join(' ');
      let approvalId: string;
      try {
        approvalId = (await deps.approvals.create({ userId, agentId: row.agentId, scopes: resourceScopes, resources: row.resources, expiresAt, grantedVia: 'ciba', grantId })).id;
      } catch (error) {
        await grant.destroy();
        await prisma.cibaRequest.update({ where: { id }, data: { status: 'pending', answeredAt: null } });
        throw error;
      }
      await prisma.cibaRequest.update({ where: { id }, data: { approvalId } });
      await provider.backchannelResult(request, grant);
      // Step-up scopes in this answer are good for the one token this request yields; the audit names who said yes.
      await audit('ciba.approved', { approval_id: approvalId, scopes: chosen, step_up: offeredList.filter((s) => s.stepUp && chosen.includes(s.name)).map((s) => s.name), refused: row.scopes.filter((s) => s !== 'openid' && !chosen.includes(s)), resources: row.resources });
      return true;
    },
  };

  /** What the human is asked about: the resource's scopes in the registry's words, and `profile` (the ID token). */
  async function offeredScopes(scopes: string[], resources: string[]) {
    const described = new Map<string, { description: string; stepUp: boolean }>();
    for (const identifier of resources) {
      const resource = await deps.resources.findByIdentifier(identifier);
      for (const scope of resource?.scopes ?? []) described.set(scope.name, { description: scope.description, stepUp: scope.requires_approval });
    }
    described.set('profile', { description: 'Know who you are: your name and username (the agent receives an ID token)', stepUp: false });
    return scopes.filter((scope) => described.has(scope)).map((name) => ({ name, ...described.get(name)! }));
  }

  return { hooks, polling, pending, stepUpTokenTtl: config.ciba.stepUpTokenTtl };
}

export type BackchannelApprovals = ReturnType<typeof createBackchannelApprovals>;
