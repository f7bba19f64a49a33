// RFC 8693 token exchange: the moment an agent acts for a human. The calling agent presents a token whose subject
// is the human; it receives a short-lived, audience-bound JWT whose `sub` stays the human and whose `act` names the
// agent (and the agents before it). Two steps, as in fosite: `decide` gathers the facts and applies the rules of
// src/delegation/exchange-policy.ts without issuing anything; `issue` mints and records the token.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import validateDpop, { checkDpopReplay, type DpopProof } from 'oidc-provider/lib/helpers/validate_dpop.js';
import type { PrismaClient } from '../../db/client.js';
import { recordAuditEvent } from '../../audit/audit-log.js';
import type { ApprovalStore } from '../../approvals/approval-store.js';
import { TOKEN_EXCHANGE } from '../../agents/agent-store.js';
import { ExchangeRefusal, grantableScopes, nextActorChain, tokenLifetime } from '../../delegation/exchange-policy.js';
import type { Resource, ResourceStore } from '../../resources/resource-store.js';
import type { Actor } from '../../tokens/principals.js';
import { TOKEN_TYPE, type PresentedToken, type TokenResolver } from '../../tokens/subject-token.js';
import { setTokenContext } from '../../tokens/token-context.js';
import type { AgentClientMetadata } from '../provider.js';

export const PARAMETERS = [
  'subject_token',
  'subject_token_type',
  'actor_token',
  'actor_token_type',
  'requested_token_type',
  'audience',
  'resource',
  'scope',
  // Extension: the lifetime (seconds) the agent needs; the token never lives longer than every limit allows.
  'requested_lifetime',
];
export const REPEATABLE = ['audience', 'resource'];

export type TokenExchangeDeps = {
  prisma: PrismaClient;
  resources: ResourceStore;
  approvals: ApprovalStore;
  resolveToken: TokenResolver;
  maxDelegationDepth: number;
};

type AgentFacts = { id: string; scopes: string[]; audiences: string[]; maxTokenTtl: number };

type Decision = {
  subject: PresentedToken;
  /** Who the token is for: the resource, or the next agent of a delegation. */
  audience: string;
  resource: Resource;
  scopes: string[];
  actorChain: Actor[];
  lifetime: number;
  approvalId: string;
  dpop: DpopProof | undefined;
};

const one = (value: unknown): string | undefined => (Array.isArray(value) ? value[0] : typeof value === 'string' ? value : undefined);
const all = (value: unknown): string[] => (Array.isArray(value) ? value : typeof value === 'string' ? [value] : []);

export function tokenExchangeHandler(deps: TokenExchangeDeps) {
  async function agentFacts(id: string): Promise<AgentFacts | undefined> {
    const agent = await deps.prisma.agent.findUnique({ where: { id }, select: { id: true, status: true, scopes: true, audiences: true, maxTokenTtl: true } });
    return agent && agent.status === 'active' ? agent : undefined;
  }

  async function decide(ctx: KoaContextWithOIDC): Promise<Decision> {
    const { params } = ctx.oidc;
    const client = ctx.oidc.client!;
    const metadata = client as unknown as AgentClientMetadata;
    if (metadata.principal_kind !== 'agent') {
      throw new ExchangeRefusal('unauthorized_client', 'not_an_agent', 'token exchange is for registered agents; this client is not one');
    }
    // The client registry read the live agent record to authenticate this request (a suspended agent is no client).
    const caller: AgentFacts = {
      id: client.clientId,
      scopes: metadata.agent_scopes ?? [],
      audiences: metadata.agent_audiences ?? [],
      maxTokenTtl: metadata.agent_max_token_ttl ?? 0,
    };

    const subjectToken = one(params!.subject_token);
    const subjectType = one(params!.subject_token_type);
    if (!subjectToken || !subjectType) throw new ExchangeRefusal('invalid_request', 'missing_parameter', 'subject_token and subject_token_type are required');
    const requestedType = one(params!.requested_token_type);
    if (requestedType && requestedType !== TOKEN_TYPE.accessToken && requestedType !== TOKEN_TYPE.jwt) {
      throw new ExchangeRefusal('invalid_request', 'requested_token_type', `this server issues ${TOKEN_TYPE.accessToken} (an RFC 9068 JWT) only`);
    }
    const lifetimeParam = one(params!.requested_lifetime);
    const requestedLifetime = lifetimeParam === undefined ? undefined : Number(lifetimeParam);
    if (requestedLifetime !== undefined && !(Number.isInteger(requestedLifetime) && requestedLifetime > 0)) {
      throw new ExchangeRefusal('invalid_request', 'requested_lifetime', 'requested_lifetime is a positive number of seconds');
    }

    // DPoP: a proof, when sent, is checked now; it binds the issued token and must match a bound subject token.
    const dpop = await validateDpop(ctx.oidc.provider, ctx);

    const subject = await deps.resolveToken(subjectToken, subjectType, 'subject_token');
    if (subject.subjectKind !== 'human') {
      throw new ExchangeRefusal('invalid_grant', 'subject_not_human', 'the subject_token must stand for a human; an agent\'s own token cannot be exchanged for delegated access');
    }
    if (subject.clientId !== caller.id && subject.audience !== caller.id) {
      throw new ExchangeRefusal('invalid_grant', 'subject_token_foreign', 'the subject_token was neither issued to this agent nor addressed to it');
    }
    if (subject.dpopJkt && subject.dpopJkt !== dpop?.thumbprint) {
      throw new ExchangeRefusal('invalid_grant', 'dpop_binding', 'the subject_token is DPoP-bound: send a DPoP proof signed with the key it is bound to');
    }
    const actorToken = one(params!.actor_token);
    if (actorToken) {
      const actor = await deps.resolveToken(actorToken, one(params!.actor_token_type) ?? '', 'actor_token');
      if (actor.subject !== caller.id || actor.subjectKind !== 'agent') {
        throw new ExchangeRefusal('invalid_grant', 'actor_mismatch', 'the actor_token must be this agent\'s own token (client credentials)');
      }
    }

    const target = await resolveTarget(caller.id, all(params!.resource), all(params!.audience), subject);
    const human = subject.subject;
    const agents = target.nextAgent ? [caller, target.nextAgent] : [caller];
    for (const agent of agents) {
      if (!agent.audiences.includes(target.resource.identifier)) {
        throw new ExchangeRefusal('invalid_target', 'audience_not_allowed', `${target.resource.identifier} is not among the allowed audiences of agent ${agent.id}`);
      }
    }
    const standing = await Promise.all(agents.map((agent) => deps.approvals.standing(human, agent.id, target.resource.identifier)));
    const requested = typeof params!.scope === 'string' ? params!.scope.split(' ').filter(Boolean) : undefined;
    const chosen = standing.map((approvals, i) => {
      const covering = requested ? approvals.find((a) => requested.every((scope) => a.scopes.includes(scope))) : undefined;
      const approval = covering ?? approvals[0];
      if (!approval) {
        throw new ExchangeRefusal(
          'invalid_grant',
          'no_approval',
          `human ${human} has not approved agent ${agents[i]!.id} at ${target.resource.identifier}: ask them through backchannel authentication (CIBA) or the consent flow`,
        );
      }
      return approval;
    });

    const scopes = grantableScopes({
      requested,
      subject: subject.scopes,
      ceilings: agents.map((agent) => ({ agent: agent.id, scopes: agent.scopes })),
      approvals: chosen.map((approval, i) => ({ agent: agents[i]!.id, scopes: approval.scopes })),
      resource: {
        identifier: target.resource.identifier,
        scopes: target.resource.scopes.map((s) => s.name),
        requiresApproval: target.resource.scopes.filter((s) => s.requires_approval).map((s) => s.name),
      },
    });
    const actorChain = nextActorChain(subject.actorChain, caller.id, deps.maxDelegationDepth);
    const lifetime = tokenLifetime({
      requested: requestedLifetime,
      agentMaximums: agents.map((agent) => agent.maxTokenTtl),
      resourceTtl: target.resource.accessTokenTtl,
      subjectRemaining: (subject.expiresAt.getTime() - Date.now()) / 1000,
    });
    return { subject, audience: target.nextAgent?.id ?? target.resource.identifier, resource: target.resource, scopes, actorChain, lifetime, approvalId: chosen[0]!.id, dpop };
  }

  /**
   * The resource the token is for, and the next agent when the caller delegates to one (`audience` = that agent's
   * id, `resource` = where it will act). A hop only narrows: the subject's resource stays the resource.
   */
  async function resolveTarget(callerId: string, resources: string[], audiences: string[], subject: PresentedToken) {
    if (resources.length > 1 || audiences.length > 1) {
      throw new ExchangeRefusal('invalid_target', 'one_target', 'name one resource (and, to delegate, one audience: the next agent)');
    }
    let nextAgent: AgentFacts | undefined;
    let identifier = resources[0];
    const audience = audiences[0];
    if (audience !== undefined && audience !== identifier) {
      if (audience === callerId) throw new ExchangeRefusal('invalid_target', 'self_audience', 'an agent cannot delegate to itself');
      nextAgent = await agentFacts(audience);
      if (!nextAgent) {
        if (identifier !== undefined) throw new ExchangeRefusal('invalid_target', 'unknown_audience', `${audience} is not an active agent`);
        identifier = audience;
      }
    }
    const subjectResource = subject.resource ?? subject.audience;
    identifier ??= subjectResource ?? undefined;
    if (!identifier) throw new ExchangeRefusal('invalid_target', 'no_target', 'name the resource the token is for (resource=...)');
    const resource = await deps.resources.findByIdentifier(identifier);
    if (!resource) throw new ExchangeRefusal('invalid_target', 'unknown_resource', `${identifier} is not a registered resource server`);
    if (subjectResource && subjectResource !== identifier && subject.audience !== callerId) {
      throw new ExchangeRefusal('invalid_target', 'audience_widening', `the subject_token is for ${subjectResource}; an exchange cannot move it to another resource`);
    }
    if (subject.resource && subject.audience === callerId && subject.resource !== identifier) {
      throw new ExchangeRefusal('invalid_target', 'audience_widening', `this delegation is for ${subject.resource} only`);
    }
    return { resource, nextAgent };
  }

  async function issue(ctx: KoaContextWithOIDC, decision: Decision): Promise<void> {
    const { provider } = ctx.oidc;
    const client = ctx.oidc.client!;
    const scope = decision.scopes.join(' ');
    // No oidc-provider Grant stands behind an exchanged token: the approval does, and revoking it revokes the token
    // through its record (approval_id, parent_jti).
    const token = new provider.AccessToken({
      accountId: decision.subject.subject,
      client,
      scope,
      gty: TOKEN_EXCHANGE,
      expiresIn: decision.lifetime,
    } as unknown as ConstructorParameters<typeof provider.AccessToken>[0]);
    token.resourceServer = new provider.ResourceServer(decision.audience, {
      audience: decision.audience,
      scope,
      accessTokenTTL: decision.lifetime,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'ES256' } },
    });
    if (decision.dpop) {
      await checkDpopReplay(provider, ctx, decision.dpop, client.clientId, errors.InvalidGrant);
      token.setThumbprint('jkt', decision.dpop.thumbprint);
    }
    setTokenContext(ctx.state, {
      actorChain: decision.actorChain,
      approvalId: decision.approvalId,
      parentJti: decision.subject.jti,
      resource: decision.resource.identifier,
    });
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      issued_token_type: TOKEN_TYPE.accessToken,
      token_type: decision.dpop ? 'DPoP' : 'Bearer',
      expires_in: decision.lifetime,
      scope,
    };
  }

  return async function tokenExchange(ctx: KoaContextWithOIDC): Promise<void> {
    let decision: Decision;
    try {
      decision = await decide(ctx);
    } catch (error) {
      if (!(error instanceof ExchangeRefusal)) throw error;
      await recordAuditEvent(deps.prisma, {
        action: 'token_exchange.refused',
        outcome: 'failure',
        actor: { kind: 'agent', id: ctx.oidc.client?.clientId },
        agentId: ctx.oidc.client?.clientId,
        clientId: ctx.oidc.client?.clientId,
        requestId: (ctx.state as { requestId?: string }).requestId,
        ip: ctx.ip,
        details: { rule: error.rule, error: error.code, description: error.message },
      });
      throw new errors.CustomOIDCProviderError(error.code, error.message);
    }
    await issue(ctx, decision);
  };
}

