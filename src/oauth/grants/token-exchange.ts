// RFC 8693 token exchange: the moment an agent acts for a human. The calling agent presents a token whose subject
// is the human; it receives a short-lived, audience-bound JWT whose `sub` stays the human and whose `act` names the
// agent (and the agents before it). Three steps, as in fosite: `gather` reads the facts of the request (subject token
// record, resource, next agent, approvals), src/policy/decide.ts decides without I/O, `issue` mints and records.
//
// The same exchange makes this server an enterprise IdP (draft-ietf-oauth-identity-assertion-authz-grant, issuing
// side): `requested_token_type=urn:ietf:params:oauth:token-type:id-jag` with an ID token this server issued to the
// agent as `subject_token`, `audience` = another authorization server's issuer and `resource` = a remote resource
// registered here with that `authorization_server`. The policy decides as for any resource (the agent's audiences and
// ceiling, the human's standing approval for the agent there); the answer is an ID-JAG signed here, recorded and
// revocable like any token, which the agent redeems at that server with the jwt-bearer grant.
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import validateDpop, { checkDpopReplay, type DpopProof } from 'oidc-provider/lib/helpers/validate_dpop.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { TOKEN_EXCHANGE } from '../../agents/agent-store.js';
import type { ApprovalStore } from '../../approvals/approval-store.js';
import type { ClientStore } from '../../clients/client-store.js';
import { allowanceOrThrow, exchangeTarget, type Allowance } from '../../policy/decide.js';
import type { ApprovalFacts, ClientFacts, RequestFacts } from '../../policy/facts.js';
import { PolicyRefusal } from '../../policy/rules.js';

import type { ExchangeFactsStore } from '../../tokens/exchange-facts-store.js';
import { TOKEN_TYPE, type IdTokenResolver, type PresentedToken, type PresentedTokenReader, type TokenResolver } from '../../tokens/subject-token.js';
import { setTokenContext } from '../../tokens/token-context.js';
import { toResourceFacts, type Resource, type ResourceStore } from '../../resources/resource-store.js';
import { all, clientFacts, one } from '../request-facts.js';
import { words } from '../../text/words.js';
import { ID_JAG_TYP } from '../trusted-assertions.js';
import { refuseGrant, resourceAccessToken } from './grant-support.js';

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
  /** The client registry's per-request lookup (the pooled, batched one on the token endpoint). */
  clients: Pick<ClientStore, 'findMetadata'>;
  resources: ResourceStore;
  approvals: ApprovalStore;
  audit: AuditLog;
  resolveToken: TokenResolver;
  /**
   * The one-statement read of an exchange's facts (record, resource, approvals) and the presented-token checks around
   * it; the delegation and ID-JAG paths, which need the next agent or an ID token first, read them one by one.
   */
  exchangeFacts: Pick<ExchangeFactsStore, 'find'>;
  presented: PresentedTokenReader;
  limits: RequestFacts['limits'];
  /** The issuing side of ID-JAG: the subject's ID token, the human's status, the signing key, the record. */
  idJag: {
    issuer: string;
    resolveIdToken: IdTokenResolver;
    humanActive: (userId: string) => Promise<boolean>;
    /** The agent's client id at the other authorization server, if registered (else its id here). */
    remoteClientId: (agentId: string, authorizationServer: string) => Promise<string | undefined>;
    /** The current private signing key (ES256 JWK with kid). */
    signingKey: () => JWK;
    record: (jti: string, payload: { accountId: string; clientId: string; scope: string; aud: string; gty: string; iat: number; exp: number }) => Promise<void>;
  };
};

type Standing = { id: string; agentId: string; scopes: string[]; resources: string[]; expiresAt: Date };

const approvalFacts = (approvals: Standing[]): ApprovalFacts[] =>
  approvals.map((a) => ({ id: a.id, agentId: a.agentId, scopes: a.scopes, resources: a.resources, expiresAt: a.expiresAt.getTime() }));

export function tokenExchangeHandler(deps: TokenExchangeDeps) {
  /** An active agent by id, as the policy sees clients (undefined: no such agent, or suspended). */
  async function activeAgent(id: string): Promise<ClientFacts | undefined> {
    const metadata = await deps.clients.findMetadata(id);
    if (!metadata || (metadata as { principal_kind?: string }).principal_kind !== 'agent') return undefined;
    return clientFacts({ ...metadata, clientId: id });
  }

  /**
   * The usual exchange (no next agent, no ID-JAG): the subject token's record, the resource and the human's approvals
   * in one statement. The statement applies the policy's default target itself, to read that resource's facts in the
   * same round trip; the target is still the policy's (exchangeTarget), and in the one case the two could disagree the
   * caller reads the facts one by one instead.
   */
  async function readTogether(token: string, type: string, named: string | undefined, agentId: string) {
    const jti = await deps.presented.jtiOf(token, type, 'subject_token');
    const read = await deps.exchangeFacts.find({ jti, resource: named, agentId });
    const subject = deps.presented.fromRecord(read.record, 'subject_token');
    const identifier = exchangeTarget(named, undefined, subject);
    return identifier === read.identifier ? { subject, identifier, resource: read.resource, approvals: read.approvals } : undefined;
  }

  /** Reads the request's parameters and every fact the policy needs, in as few round trips as the facts allow. */
  async function gather(ctx: KoaContextWithOIDC): Promise<{ facts: RequestFacts; subject: PresentedToken; dpop: DpopProof | undefined }> {
    const { params } = ctx.oidc;
    const caller = clientFacts(ctx.oidc.client!);
    if (caller.kind !== 'agent') throw new PolicyRefusal('not_an_agent', 'token exchange is for registered agents; this client is not one');
    const subjectToken = one(params!.subject_token);
    const subjectType = one(params!.subject_token_type);
    if (!subjectToken || !subjectType) throw new PolicyRefusal('missing_parameter', 'subject_token and subject_token_type are required');
    const requestedType = one(params!.requested_token_type);
    if (requestedType && requestedType !== TOKEN_TYPE.accessToken && requestedType !== TOKEN_TYPE.jwt && requestedType !== TOKEN_TYPE.idJag) {
      throw new PolicyRefusal('requested_token_type', `this server issues ${TOKEN_TYPE.accessToken} (an RFC 9068 JWT), or ${TOKEN_TYPE.idJag} for a remote resource`);
    }
    const idJag = requestedType === TOKEN_TYPE.idJag;
    if (idJag !== (subjectType === TOKEN_TYPE.idToken)) {
      throw new PolicyRefusal('token_type', idJag
        ? `an ID-JAG is issued for an ID token this server issued to you: subject_token_type=${TOKEN_TYPE.idToken}`
        : `an ID token is exchanged only for an ID-JAG (requested_token_type=${TOKEN_TYPE.idJag})`);
    }
    const lifetimeParam = one(params!.requested_lifetime);
    const requestedLifetime = lifetimeParam === undefined ? undefined : Number(lifetimeParam);
    if (requestedLifetime !== undefined && !(Number.isInteger(requestedLifetime) && requestedLifetime > 0)) {
      throw new PolicyRefusal('requested_lifetime', 'requested_lifetime is a positive number of seconds');
    }
    const resources = all(params!.resource);
    const audiences = all(params!.audience);
    if (resources.length > 1 || audiences.length > 1) {
      throw new PolicyRefusal('one_target', 'name one resource (and, to delegate, one audience: the next agent)');
    }

    // DPoP: a proof, when sent, is checked now; it binds the issued token and must match a bound subject token.
    const dpop = await validateDpop(ctx.oidc.provider, ctx);
    const actorToken = one(params!.actor_token);
    const actorPromise = actorToken ? deps.resolveToken(actorToken, one(params!.actor_token_type) ?? '', 'actor_token') : undefined;
    // Awaited below, after the subject's facts; a refusal of the subject first must not leave it unhandled.
    actorPromise?.catch(() => undefined);

    // The target is the policy's (exchangeTarget). An ID-JAG's audience is the other authorization server.
    const audience = audiences[0];
    const mayDelegate = !idJag && audience !== undefined && audience !== resources[0] && audience !== caller.id;
    let subject: PresentedToken;
    let identifier: string;
    let resource: Resource | undefined;
    let approvals: Standing[] = [];
    let nextAgent: ClientFacts | undefined;
    let nextApprovals: Standing[] = [];
    let humanActive = true;
    const read = !idJag && !mayDelegate ? await readTogether(subjectToken, subjectType, resources[0], caller.id) : undefined;
    if (read) {
      subject = read.subject;
      identifier = read.identifier;
      resource = read.resource;
      approvals = read.approvals;
    } else {
      subject = idJag ? await deps.idJag.resolveIdToken(subjectToken, caller.id) : await deps.resolveToken(subjectToken, subjectType, 'subject_token');
      nextAgent = mayDelegate ? await activeAgent(audience) : undefined;
      identifier = idJag
        ? exchangeTarget(resources[0], undefined, undefined)
        : exchangeTarget(resources[0], audience !== undefined && !nextAgent && audience !== caller.id ? audience : undefined, subject);
      if (idJag && audience === undefined) throw new PolicyRefusal('missing_parameter', 'audience (the issuer of the authorization server the ID-JAG is for) is required');
      const human = subject.subject;
      [resource, approvals, nextApprovals, humanActive] = await Promise.all([
        deps.resources.findByIdentifier(identifier),
        subject.subjectKind === 'human' ? deps.approvals.standing(human, caller.id, identifier) : [],
        nextAgent && subject.subjectKind === 'human' ? deps.approvals.standing(human, nextAgent.id, identifier) : [],
        // An access token's human is checked through its record (revoked with the human); an ID token has none.
        idJag ? deps.idJag.humanActive(human) : true,
      ]);
    }
    const actor = await actorPromise;
    const human = subject.subject;
    const requested = typeof params!.scope === 'string' ? words(params!.scope) : undefined;
    const facts: RequestFacts = {
      grant: 'token_exchange',
      now: Date.now(),
      client: caller,
      requestedResource: identifier,
      resource: resource ? toResourceFacts(resource) : undefined,
      requestedScopes: requested,
      requestedLifetime,
      human: subject.subjectKind === 'human' ? { id: human, active: humanActive } : undefined,
      approvals: approvalFacts(approvals),
      exchange: {
        subject: { ...subject, expiresAt: subject.expiresAt.getTime() },
        dpopJkt: dpop?.thumbprint,
        actorTokenSubject: actor ? { sub: actor.subject, kind: actor.subjectKind } : undefined,
        requestedAudience: audience !== undefined && audience !== identifier ? audience : undefined,
        nextAgent,
        nextAgentApprovals: approvalFacts(nextApprovals),
        issue: idJag ? 'id_jag' : 'access_token',
      },
      limits: deps.limits,
    };
    return { facts, subject, dpop };
  }

  /**
   * An ID-JAG for the other authorization server (allowance.audience): signed here with the current key, typed
   * oauth-id-jag+jwt, naming the human (`sub` as this server knows them, which that server links to its user), the
   * agent's client id there, the resource and the scopes the policy allowed; recorded under its jti before the
   * response leaves.
   */
  async function issueIdJag(ctx: KoaContextWithOIDC, allowance: Allowance, subject: PresentedToken & { authTime?: number | undefined }): Promise<void> {
    const client = ctx.oidc.client!;
    const key = deps.idJag.signingKey();
    const now = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    const scope = allowance.scopes.join(' ');
    const remoteClientId = (await deps.idJag.remoteClientId(client.clientId, allowance.audience)) ?? client.clientId;
    const assertion = await new SignJWT({
      client_id: remoteClientId,
      resource: allowance.resource,
      scope,
      ...(subject.authTime !== undefined ? { auth_time: subject.authTime } : {}),
    })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: ID_JAG_TYP })
      .setIssuer(deps.idJag.issuer)
      .setSubject(subject.subject)
      .setAudience(allowance.audience)
      .setJti(jti)
      .setIssuedAt(now)
      .setExpirationTime(now + allowance.lifetime)
      .sign(await importJWK(key, 'ES256'));
    setTokenContext(ctx.state, { actorChain: allowance.actorChain, approvalId: allowance.approvalId, parentJti: undefined, resource: allowance.resource, decision: allowance.trail });
    await deps.idJag.record(jti, { accountId: subject.subject, clientId: client.clientId, scope, aud: allowance.audience, gty: TOKEN_EXCHANGE, iat: now, exp: now + allowance.lifetime });
    ctx.body = { access_token: assertion, issued_token_type: TOKEN_TYPE.idJag, token_type: 'N_A', expires_in: allowance.lifetime, scope };
  }

  async function issue(ctx: KoaContextWithOIDC, allowance: Allowance, subject: PresentedToken, dpop: DpopProof | undefined): Promise<void> {
    const { provider } = ctx.oidc;
    const client = ctx.oidc.client!;
    const scope = allowance.scopes.join(' ');
    // No oidc-provider Grant stands behind an exchanged token: the approval does, and revoking it revokes the token
    // through its record (approval_id, parent_jti).
    const token = resourceAccessToken(ctx, { accountId: subject.subject, scopes: allowance.scopes, grantType: TOKEN_EXCHANGE, audience: allowance.audience, lifetime: allowance.lifetime });
    if (dpop) {
      await checkDpopReplay(provider, ctx, dpop, client.clientId, errors.InvalidGrant);
      token.setThumbprint('jkt', dpop.thumbprint);
    }
    setTokenContext(ctx.state, {
      actorChain: allowance.actorChain,
      approvalId: allowance.approvalId,
      parentJti: subject.jti,
      resource: allowance.resource,
      decision: allowance.trail,
    });
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      issued_token_type: TOKEN_TYPE.accessToken,
      token_type: dpop ? 'DPoP' : 'Bearer',
      expires_in: allowance.lifetime,
      scope,
    };
  }

  return async function tokenExchange(ctx: KoaContextWithOIDC): Promise<void> {
    let decided: { allowance: Allowance; subject: PresentedToken; dpop: DpopProof | undefined };
    try {
      const { facts, subject, dpop } = await gather(ctx);
      decided = { allowance: allowanceOrThrow(facts), subject, dpop };
    } catch (error) {
      if (!(error instanceof PolicyRefusal)) throw error;
      return refuseGrant(ctx, deps.audit, error, 'token_exchange.refused');
    }
    if (ctx.oidc.params?.requested_token_type === TOKEN_TYPE.idJag) await issueIdJag(ctx, decided.allowance, decided.subject);
    else await issue(ctx, decided.allowance, decided.subject, decided.dpop);
  };
}
