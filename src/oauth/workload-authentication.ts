// Workload identity federation: an agent authenticates with the short-lived JWT its platform already gives it
// (a Kubernetes projected service-account token, a SPIFFE JWT-SVID, a CI system's OIDC token) instead of a secret.
//
// The seam. oidc-provider's own `private_key_jwt` (lib/shared/client_auth.js, jwt_client_auth.js) takes the client id
// from the assertion's `sub` and requires `iss` = `sub` = client_id, checked against the client's own keys; a
// platform assertion has `iss` = the platform and `sub` = the workload. So in front of every endpoint that
// authenticates clients (token, introspection, revocation, backchannel authentication, PAR) this middleware takes
// each client assertion whose issuer is a trusted `workload` issuer, verifies it against that issuer's keys
// (`aud` = this issuer or the token endpoint, expiry and not-before, a lifetime of at most an hour), maps
// (iss, sub) to the one agent with that workload identity, records the use, and hands oidc-provider, in place of the
// assertion, a one-time credential minted for this request only (256 random bits, kept in this process for the
// request's life). The agent is registered with oidc-provider as authenticating by `client_secret_post` with a stored
// credential no secret matches (src/clients/client-store.ts, runtimeClientMetadata), and `compareClientSecret`
// (src/oauth/provider.ts) accepts exactly that one-time credential for exactly that agent. Everything after client
// authentication (status, ceilings, kill switch, policy) is oidc-provider's and the policy's, unchanged.
//
// Platform tokens are reused until they expire by design (Kubernetes rotates its projected tokens well before
// expiry), so an assertion may be presented more than once within its life: each use is on the record.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import { requestOrigin, type AuditLog } from '../audit/audit-log.js';
import type { FederationLookupStore } from '../federation/federation-lookup-store.js';
import { bufferedBody, replaceBody } from '../http/request-body.js';
import type { Logger } from '../observability/logger.js';
import { AssertionError, ID_JAG_TYP, unverifiedIssuer, type TrustedAssertions } from './trusted-assertions.js';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Seconds: the longest-lived platform assertion accepted (exp − iat, or exp − nbf, or exp − now). */
export const MAX_ASSERTION_LIFETIME = 3600;

export type WorkloadAuthenticationOptions = {
  issuer: string;
  /** Endpoint paths that authenticate clients, with the audit action of their refusals. */
  endpoints: Record<string, 'token' | 'introspection' | 'revocation' | 'backchannel_authentication' | 'authorization'>;
  tokenEndpoint: string;
  lookup: Pick<FederationLookupStore, 'workload'>;
  assertions: TrustedAssertions;
  audit: AuditLog;
  log: Logger;
};

export function workloadAuthentication(options: WorkloadAuthenticationOptions) {
  /** One-time credentials of requests in flight: credential → agent id. */
  const pending = new Map<string, string>();
  const audiences = [options.issuer, options.tokenEndpoint];

  // Most requests carry no client assertion: they pass without a parse, and without an async frame of this one's.
  const middleware: Middleware = (ctx, next) => {
    const endpoint = options.endpoints[ctx.path];
    if (ctx.method !== 'POST' || !endpoint) return next();
    const body = bufferedBody(ctx);
    if (!body.includes('client_assertion') || !ctx.is('application/x-www-form-urlencoded')) return next();
    return withAssertion(ctx, next, endpoint, body);
  };

  const withAssertion = async (ctx: Context, next: Next, endpoint: WorkloadAuthenticationOptions['endpoints'][string], body: Buffer) => {
    const params = new URLSearchParams(body.toString('utf8'));
    const assertion = params.getAll('client_assertion');
    // Anything but one assertion, or another mechanism besides it, is oidc-provider's to refuse as it stands.
    if (assertion.length !== 1 || params.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE || params.has('client_secret') || ctx.get('authorization')) {
      return next();
    }
    const claimed = unverifiedIssuer(assertion[0]!);
    // A self-signed private_key_jwt assertion (iss = sub = client_id) is oidc-provider's own.
    if (!claimed || claimed.iss === claimed.sub) return next();
    const trust = await options.lookup.workload(claimed.iss, claimed.sub);

    const refuse = async (description: string) => {
      ctx.status = 401;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_client', error_description: description };
      await options.audit.record({
        action: `${endpoint}.refused`,
        outcome: 'failure',
        actor: { kind: trust?.agentId ? 'agent' : 'app', id: trust?.agentId ?? params.get('client_id') ?? undefined },
        agentId: trust?.agentId,
        clientId: trust?.agentId ?? params.get('client_id') ?? undefined,
        ...requestOrigin(ctx),
        details: { error: 'invalid_client', description, rule: 'client_authentication_failed', grant_type: params.get('grant_type') ?? undefined, workload_issuer: claimed.iss, workload_subject: claimed.sub },
      });
    };

    // An ID-JAG is a grant, never a credential (RFC 8725 §3.11: a typed JWT is accepted only where its type is).
    if (claimed.typ === ID_JAG_TYP) return refuse('an ID-JAG is not a client assertion: redeem it with the jwt-bearer grant');
    // oidc-provider's private_key_jwt would refuse it too (iss must be the client id), but not say why.
    if (!trust) return refuse(`client assertion from ${claimed.iss}: not a trusted workload issuer here (and a private_key_jwt assertion has iss = sub = client_id)`);
    let claims;
    try {
      claims = await options.assertions.verify(assertion[0]!, trust.issuer, { audiences, required: ['sub'] });
    } catch (error) {
      if (!(error instanceof AssertionError)) throw error;
      return refuse(`client assertion from ${claimed.iss}: ${error.message}`);
    }
    const start = claims.iat ?? claims.nbf ?? Math.floor(Date.now() / 1000);
    if (claims.exp! - start > MAX_ASSERTION_LIFETIME) {
      return refuse(`client assertion from ${claimed.iss}: it lives longer than ${MAX_ASSERTION_LIFETIME} seconds; ask the platform for a shorter-lived token`);
    }
    if (!trust.agentId) return refuse(`no agent has the workload identity ${claimed.sub} of ${claimed.iss}`);
    const named = params.get('client_id');
    if (named !== null && named !== trust.agentId) return refuse(`the client assertion's workload identity belongs to another agent than client_id ${named}`);
    if (trust.issuer.allowedClients.length > 0 && !trust.issuer.allowedClients.includes(trust.agentId)) {
      return refuse(`the issuer ${claimed.iss} is not trusted for agent ${trust.agentId}`);
    }

    await options.audit.record({
      action: 'agent.workload_authenticated',
      outcome: 'success',
      actor: { kind: 'agent', id: trust.agentId },
      agentId: trust.agentId,
      clientId: trust.agentId,
      ...requestOrigin(ctx),
      details: { endpoint, issuer: claimed.iss, subject: claimed.sub, assertion_jti: claims.jti, assertion_exp: claims.exp },
    });
    const credential = randomBytes(32).toString('base64url');
    params.delete('client_assertion');
    params.delete('client_assertion_type');
    params.set('client_id', trust.agentId);
    params.set('client_secret', credential);
    replaceBody(ctx, Buffer.from(params.toString()));
    pending.set(credential, trust.agentId);
    try {
      await next();
    } finally {
      pending.delete(credential);
    }
  };

  return {
    middleware,
    /** Whether `credential` is the one-time credential this process minted for `clientId` in a request in flight. */
    accepts(credential: string, clientId: string): boolean {
      const owner = typeof credential === 'string' ? pending.get(credential) : undefined;
      if (owner === undefined) return false;
      const a = Buffer.from(owner);
      const b = Buffer.from(clientId);
      return a.length === b.length && timingSafeEqual(a, b);
    },
  };
}

export type WorkloadAuthentication = ReturnType<typeof workloadAuthentication>;
