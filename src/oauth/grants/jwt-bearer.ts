// The receiving side of Enterprise-Managed Authorization (draft-ietf-oauth-identity-assertion-authz-grant, "ID-JAG",
// Cross App Access; MCP's enterprise-managed authorization extension): an agent presents, with the RFC 7523
// jwt-bearer grant, an Identity Assertion JWT Authorization Grant its enterprise IdP issued for it and for one of
// our resources; no consent screen, because the IdP, where the human signed in, decided centrally.
//
// Three steps like token exchange: `gather` verifies the assertion (typ oauth-id-jag+jwt, a trusted `id_jag`
// issuer's signature, `aud` exactly our issuer, exp/iat/jti) and reads the facts (the human its subject is linked to,
// the resource); src/policy/decide.ts decides (client continuity, the issuer's allowed clients and resources, scopes
// = requested ∩ ID-JAG ∩ ceiling, never an approval-only scope); `issue` records the ID-JAG as the human's approval
// (granted_via id_jag, single use by its issuer and jti) and mints the access token under it, so withdrawing that
// approval revokes the token.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import validateDpop, { checkDpopReplay, type DpopProof } from 'oidc-provider/lib/helpers/validate_dpop.js';
import { requestOrigin, type AuditLog } from '../../audit/audit-log.js';
import { AssertionReplayedError, type ApprovalStore } from '../../approvals/approval-store.js';
import { JWT_BEARER_GRANT } from '../../clients/client-store.js';
import type { FederationLookupStore } from '../../federation/federation-lookup-store.js';
import { allowanceOrThrow, assertionTarget, type Allowance } from '../../policy/decide.js';
import type { RequestFacts } from '../../policy/facts.js';
import { PolicyRefusal } from '../../policy/rules.js';
import { toResourceFacts, type ResourceStore } from '../../resources/resource-store.js';
import { canonicalResourceIdentifier } from '../../resources/resource-identifier.js';
import { setTokenContext } from '../../tokens/token-context.js';
import { all, clientFacts, one } from '../request-facts.js';
import { words } from '../../text/words.js';
import { refuseGrant, resourceAccessToken } from './grant-support.js';
import { AssertionError, ID_JAG_TYP, unverifiedIssuer, type TrustedAssertions } from '../trusted-assertions.js';

export { JWT_BEARER_GRANT };
export const ID_JAG_PROFILE = 'urn:ietf:params:oauth:grant-profile:id-jag';
export const PARAMETERS = ['assertion', 'scope', 'resource'];
export const REPEATABLE = ['resource'];

export type JwtBearerDeps = {
  issuer: string;
  lookup: Pick<FederationLookupStore, 'identityAssertion'>;
  assertions: TrustedAssertions;
  resources: ResourceStore;
  approvals: Pick<ApprovalStore, 'recordAssertion' | 'discard'>;
  audit: AuditLog;
  limits: RequestFacts['limits'];
};

type Redemption = { issuer: string; jti: string; userId: string };


export function jwtBearerHandler(deps: JwtBearerDeps) {
  async function gather(ctx: KoaContextWithOIDC): Promise<{ facts: RequestFacts; redemption: Redemption; dpop: DpopProof | undefined }> {
    const { params } = ctx.oidc;
    const caller = clientFacts(ctx.oidc.client!);
    const assertion = one(params!.assertion);
    if (!assertion) throw new PolicyRefusal('missing_parameter', 'assertion (an ID-JAG) is required');
    const claimed = unverifiedIssuer(assertion);
    if (!claimed) throw new PolicyRefusal('assertion_invalid', 'the assertion is not a signed JWT with iss and sub');
    // Only ID-JAGs are accepted on this grant: a JWT of another type (an ID token, an access token) is never one.
    if (claimed.typ !== ID_JAG_TYP) {
      throw new PolicyRefusal('assertion_invalid', `the assertion is not an ID-JAG (its JWT typ must be ${ID_JAG_TYP})`);
    }
    const trust = await deps.lookup.identityAssertion(claimed.iss, claimed.sub);
    if (!trust) throw new PolicyRefusal('assertion_untrusted_issuer', `${claimed.iss} is not trusted to issue ID-JAGs here`);
    let claims;
    try {
      claims = await deps.assertions.verify(assertion, trust.issuer, {
        audiences: [deps.issuer],
        exactAudience: true,
        typ: ID_JAG_TYP,
        required: ['sub', 'iat', 'jti', 'client_id'],
      });
    } catch (error) {
      if (error instanceof AssertionError) throw new PolicyRefusal('assertion_invalid', error.message);
      throw error;
    }
    const resourceParam = all(params!.resource);
    if (resourceParam.length > 1) throw new PolicyRefusal('one_target', 'name one resource');
    const claimedResources = claims.resource === undefined ? undefined : ([] as unknown[]).concat(claims.resource).filter((r): r is string => typeof r === 'string').map((r) => canonicalResourceIdentifier(r) ?? r);
    const identifier = assertionTarget(resourceParam[0], claimedResources);
    const dpop = await validateDpop(ctx.oidc.provider, ctx);
    const resource = await deps.resources.findByIdentifier(identifier);
    const facts: RequestFacts = {
      grant: 'id_jag',
      now: Date.now(),
      client: caller,
      requestedResource: identifier,
      resource: resource ? toResourceFacts(resource) : undefined,
      // The request's scopes; without them, the most the policy allows, which the ID-JAG's scopes bound.
      requestedScopes: params!.scope === undefined ? undefined : words(params!.scope),
      human: trust.user,
      assertion: {
        issuer: trust.issuer.issuer,
        clientId: String(claims.client_id),
        scopes: claims.scope === undefined ? undefined : words(claims.scope),
        resources: claimedResources,
        allowedClients: trust.issuer.allowedClients,
        allowedResources: trust.issuer.allowedResources,
      },
      limits: deps.limits,
    };
    return { facts, redemption: { issuer: trust.issuer.issuer, jti: String(claims.jti), userId: trust.user?.id ?? '' }, dpop };
  }

  async function issue(ctx: KoaContextWithOIDC, allowance: Allowance, redemption: Redemption, dpop: DpopProof | undefined): Promise<void> {
    const { provider } = ctx.oidc;
    const client = ctx.oidc.client!;
    const scope = allowance.scopes.join(' ');
    if (dpop) await checkDpopReplay(provider, ctx, dpop, client.clientId, errors.InvalidGrant);
    // The ID-JAG stands for the human's approval: recorded as one, for this token's life; a replay fails here, in
    // every process alike (unique issuer and jti).
    let approval;
    try {
      approval = await deps.approvals.recordAssertion({
        userId: redemption.userId,
        agentId: client.clientId,
        scopes: allowance.scopes,
        resource: allowance.resource,
        expiresAt: new Date(Date.now() + allowance.lifetime * 1000),
        issuer: redemption.issuer,
        jti: redemption.jti,
      });
    } catch (error) {
      if (error instanceof AssertionReplayedError) throw new PolicyRefusal('assertion_replayed', 'this ID-JAG was already redeemed: ask the IdP for a new one');
      throw error;
    }
    let value: string;
    try {
      const token = resourceAccessToken(ctx, { accountId: redemption.userId, scopes: allowance.scopes, grantType: JWT_BEARER_GRANT, audience: allowance.audience, lifetime: allowance.lifetime });
      if (dpop) token.setThumbprint('jkt', dpop.thumbprint);
      const trail = [...allowance.trail, { limit: 'approval', detail: `approval ${approval.id}: ID-JAG ${redemption.jti} from ${redemption.issuer}` }];
      setTokenContext(ctx.state, { actorChain: allowance.actorChain, approvalId: approval.id, resource: allowance.resource, decision: trail });
      ctx.oidc.entity('AccessToken', token);
      value = await token.save();
    } catch (error) {
      // No token was recorded: the approval it would stand under is not kept (the ID-JAG may be presented again).
      await deps.approvals.discard(approval.id).catch(() => undefined);
      throw error;
    }
    // The token is recorded under its approval: from here on a failure leaves both, consistent and revocable.
    await deps.audit.record({
      action: 'approval.id_jag',
      outcome: 'success',
      actor: { kind: 'agent', id: client.clientId },
      userId: redemption.userId,
      agentId: client.clientId,
      clientId: client.clientId,
      ...requestOrigin(ctx),
      details: { approval_id: approval.id, issuer: redemption.issuer, assertion_jti: redemption.jti, scopes: allowance.scopes, resource: allowance.resource },
    });
    ctx.body = { access_token: value, token_type: dpop ? 'DPoP' : 'Bearer', expires_in: allowance.lifetime, scope };
  }

  return async function jwtBearer(ctx: KoaContextWithOIDC): Promise<void> {
    try {
      const { facts, redemption, dpop } = await gather(ctx);
      const allowance = allowanceOrThrow(facts);
      await issue(ctx, allowance, redemption, dpop);
    } catch (error) {
      if (!(error instanceof PolicyRefusal)) throw error;
      return refuseGrant(ctx, deps.audit, error, 'token.refused', { grant_type: JWT_BEARER_GRANT, issuer: unverifiedIssuer(one(ctx.oidc.params?.assertion) ?? '')?.iss });
    }
  };
}
