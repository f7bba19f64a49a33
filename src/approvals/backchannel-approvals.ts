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
// What may be asked (resource, scopes) is the policy's: the backchannel endpoint asks it like the authorization
// endpoint (src/oauth/provider.ts). Approving saves the Grant and the standing approval (granted_via: ciba, never
// holding approval-only scopes) in one transaction, extending the human's standing approval for the agent when there
// is one, then hands the Grant to oidc-provider.
import type { Middleware } from 'koa';
import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { AgentStore } from '../agents/agent-store.js';
import { isShownText } from '../text/shown-text.js';
import type { AuditAction } from '../audit/actions.js';
import { requestOrigin, type AuditLog } from '../audit/audit-log.js';
import type { Config } from '../config.js';
import type { InTransaction } from '../db/transaction.js';
import type { UserStore } from '../humans/user-store.js';
import type { Logger } from '../observability/logger.js';
import { toResourceFacts, type ResourceStore } from '../resources/resource-store.js';
import type { AgentBlockStore } from './agent-block-store.js';
import type { ApprovalStore } from './approval-store.js';
import type { CibaRequestStore } from './ciba-request-store.js';
import type { ApprovalNotifier } from './notifier.js';
import { words } from '../text/words.js';

/** Requests waiting for the human (CIBA), shown and answered on /approvals. */
export type PendingRequests = {
  listFor(userId: string): Promise<PendingRequest[]>;
  /** Approves (with the scopes the human kept) or denies one request of this human; false when it is gone. */
  answer(userId: string, id: string, answer: { approve: true; scopes: string[] } | { approve: false }, who: { requestId?: string | undefined; ip: string }): Promise<boolean>;
};

export type PendingRequest = {
  id: string;
  agentId: string;
  agentName: string;
  ownerName: string;
  bindingMessage: string | undefined;
  resources: string[];
  /** `stepUp`: requires_approval, good for this one token only. */
  scopes: Array<{ name: string; description: string; stepUp: boolean }>;
  expiresAt: Date;
};

export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
/** Binding messages are shown to the human as they are: words and punctuation, one line, bounded. */
export const MAX_BINDING_MESSAGE = 120;
/** Lifetime of a request when the agent does not ask for less (requested_expiry). */
export const MAX_REQUEST_SECONDS = 600;
const DAY = 86_400_000;

export type BackchannelDependencies = {
  /** The transaction the Grant and the approval commit in (src/db/transaction.ts). */
  inTransaction: InTransaction;
  requests: CibaRequestStore;
  users: UserStore;
  agents: AgentStore;
  audit: AuditLog;
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

/**
 * The pseudonymous account of a login_hint that names nobody: a UUID of version 0, which no user id (version 4) is,
 * derived from the keyed hash of the hint so the same hint always gets the same one.
 */
export function unknownHintId(hash: string): string {
  const hex = Buffer.from(hash).toString('hex').padEnd(32, '0').slice(0, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export const isUnknownHintId = (id: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-0[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/.test(id);


export function createBackchannelApprovals(deps: BackchannelDependencies) {
  const { config, requests } = deps;

  /** The hooks oidc-provider's `features.ciba` calls, in the order it calls them. */
  const hooks = {
    deliveryModes: ['poll'] as ['poll'],

    async validateBindingMessage(_ctx: KoaContextWithOIDC, message: string | undefined): Promise<void> {
      if (message === undefined) return;
      if (message.length > MAX_BINDING_MESSAGE || !isShownText(message)) {
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
        throw Object.assign(new errors.InvalidScope('ask for at least one scope of the resource (besides openid)', [...ctx.oidc.requestParamScopes].join(' ')), { rule: 'no_scope_allowed' });
      }
    },

    /**
     * login_hint names the human: their username, or their user id. A hint naming nobody is answered like one naming
     * somebody (an agent must not learn who has an account here): it gets a pseudonymous id of its own, the request
     * waits and ends in expired_token, counted against the agent's pending limits like any other.
     */
    async processLoginHint(_ctx: KoaContextWithOIDC, hint?: string): Promise<string | undefined> {
      if (!hint || hint.length > 256) return undefined;
      return (await deps.users.findActiveIdByHint(hint)) ?? unknownHintId(deps.hashId(`login_hint:${hint.trim().toLowerCase()}`));
    },

    /** No user codes here; this is where the account is known, so the abuse limits and blocks are checked here. */
    async verifyUserCode(ctx: KoaContextWithOIDC, account: { accountId: string }): Promise<void> {
      // That the client is an agent the policy already checked, when it decided what may be asked here.
      const agentId = ctx.oidc.client!.clientId;
      if (await deps.blocks.isBlocked(account.accountId, agentId)) {
        throw new errors.AccessDenied('the user has blocked this agent from asking');
      }
      const [forAgent, forPair] = await Promise.all([requests.countPending({ agentId }), requests.countPending({ agentId, userId: account.accountId })]);
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
      const row = await requests.create({ id: deps.hashId(request.jti), userId: account.accountId, agentId: client.clientId, scopes, resources, bindingMessage: bindingMessage ?? null, expiresAt });
      await deps.audit.record({
        action: 'ciba.requested',
        outcome: 'success',
        actor: { kind: 'agent', id: client.clientId },
        agentId: client.clientId,
        userId: account.accountId,
        clientId: client.clientId,
        ...requestOrigin(ctx),
        details: { ciba_request_id: row.id, scopes: row.scopes, resources, binding_message: bindingMessage },
      });
      if (isUnknownHintId(account.accountId)) return; // nobody to tell
      const agent = await deps.agents.describe(client.clientId);
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
      if (!(await requests.recordPoll(id, agentId, config.ciba.pollIntervalSeconds))) {
        ctx.body = { error: 'slow_down', error_description: `poll at most every ${config.ciba.pollIntervalSeconds} seconds` };
      }
    } else if (body?.error === 'invalid_grant') {
      const row = await requests.find(id, agentId);
      if (row && row.expiresAt.getTime() <= Date.now()) {
        ctx.body = { error: 'expired_token', error_description: 'the backchannel authentication request has expired: ask again' };
      }
    }
  };

  const pending: PendingRequests = {
    async listFor(userId: string): Promise<PendingRequest[]> {
      const rows = await requests.listPending(userId);
      const agents = new Map(
        await Promise.all([...new Set(rows.map((r) => r.agentId))].map(async (id) => [id, await deps.agents.describe(id)] as const)),
      );
      return Promise.all(
        rows.map(async (row) => {
          const agent = agents.get(row.agentId);
          return {
            id: row.id,
            agentId: row.agentId,
            agentName: agent?.name ?? row.agentId,
            ownerName: agent?.ownerName ?? '',
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
      const row = await requests.findPending(id, userId, now);
      if (!row) return false;
      const provider = deps.provider();
      const request = await provider.BackchannelAuthenticationRequest.find(deps.storedReference(id));
      if (!request) return false;
      const audit = (action: AuditAction, details: Record<string, unknown>) =>
        deps.audit.record({ action, outcome: 'success', actor: { kind: 'human', id: userId }, userId, agentId: row.agentId, clientId: row.agentId, ...who, details });

      if (!(await requests.claim(id, answer.approve ? 'approved' : 'denied', now))) return false;

      if (!answer.approve) {
        await provider.backchannelResult(request, new errors.AccessDenied('the user denied the request'));
        await audit('ciba.denied', { scopes: row.scopes, resources: row.resources });
        return true;
      }

      const offeredList = await offeredScopes(row.scopes, row.resources);
      const offered = new Set(offeredList.map((s) => s.name));
      const chosen = answer.scopes.filter((scope) => offered.has(scope));
      const resourceScopes = chosen.filter((scope) => scope !== 'profile');
      // Approval-only scopes answer this request alone: the Grant carries them to its one token (the CIBA grant
      // never yields a refresh token), the standing approval never holds them.
      const stepUp = new Set(offeredList.filter((s) => s.stepUp).map((s) => s.name));
      const standingScopes = resourceScopes.filter((scope) => !stepUp.has(scope));
      const standing = standingScopes.length > 0 ? await deps.approvals.extendable(userId, row.agentId, now) : undefined;
      // An answer carrying approval-only scopes gets a Grant of its own: they must never sit in the standing Grant,
      // where a later authorization would find them (even if the agent never collects this token).
      const earlier = standing?.grantId && !chosen.some((scope) => stepUp.has(scope)) ? await provider.Grant.find(standing.grantId) : undefined;
      const grant = earlier && earlier.accountId === userId && earlier.clientId === row.agentId ? earlier : new provider.Grant({ accountId: userId, clientId: row.agentId });
      // The human's ID token only when the agent asked for their profile and the human kept it.
      if (chosen.includes('profile')) grant.addOIDCScope('openid profile');
      for (const resource of row.resources) grant.addResourceScope(resource, resourceScopes.join(' '));
      const expiresAt = new Date(Math.max(now.getTime() + config.approvals.defaultDays * DAY, standing ? standing.expiresAt.getTime() : 0));
      (grant as unknown as { expiresIn: number }).expiresIn = Math.floor((expiresAt.getTime() - now.getTime()) / 1000);
      // oidc-provider issues an ID token whenever the request said `openid`: the request keeps only what was granted.
      request.scope = [...(chosen.includes('profile') ? ['openid', 'profile'] : []), ...resourceScopes].join(' ');
      let saved: { grantId: string; approvalId: string | undefined };
      try {
        saved = await deps.inTransaction(async (tx) => {
          const grantId = await grant.save();
          if (standingScopes.length === 0) return { grantId, approvalId: undefined };
          // The human's standing approval for the agent is extended (never a second one); its Grant only when this
          // answer carries no approval-only scope.
          const resources = [...new Set([...(standing ? standing.resources : []), ...row.resources])];
          const scopes = [...new Set([...(standing ? standing.scopes : []), ...standingScopes])];
          const approval = standing
            ? await deps.approvals.update(standing.id, { scopes, resources, expiresAt }, tx)
            : await deps.approvals.create({ userId, agentId: row.agentId, scopes, resources, expiresAt, grantedVia: 'ciba', grantId }, tx);
          await requests.linkApproval(id, approval.id, tx);
          return { grantId, approvalId: approval.id };
        });
      } catch (error) {
        await requests.unclaim(id);
        throw error;
      }
      await provider.backchannelResult(request, grant);
      // Step-up scopes in this answer are good for the one token this request yields; the audit names who said yes.
      await audit('ciba.approved', {
        approval_id: saved.approvalId,
        scopes: chosen,
        step_up: chosen.filter((s) => stepUp.has(s)),
        refused: row.scopes.filter((s) => s !== 'openid' && !chosen.includes(s)),
        resources: row.resources,
      });
      return true;
    },
  };

  /** What the human is asked about: the resource's scopes in the registry's words, and `profile` (the ID token). */
  async function offeredScopes(scopes: string[], resources: string[]) {
    const described = new Map<string, { description: string; stepUp: boolean }>();
    for (const identifier of resources) {
      const resource = await deps.resources.findByIdentifier(identifier);
      const approvalOnly = new Set(resource ? toResourceFacts(resource).approvalOnly : []);
      for (const scope of resource?.scopes ?? []) described.set(scope.name, { description: scope.description, stepUp: approvalOnly.has(scope.name) });
    }
    described.set('profile', { description: 'Know who you are: your name and username (the agent receives an ID token)', stepUp: false });
    return scopes.filter((scope) => described.has(scope)).map((name) => ({ name, ...described.get(name)! }));
  }

  return { hooks, polling, pending, stepUpTokenTtl: config.ciba.stepUpTokenTtl };
}

export type BackchannelApprovals = ReturnType<typeof createBackchannelApprovals>;
