// The oidc-provider instance: the OAuth 2.0 / OpenID Connect protocol engine. This file is the documented
// configuration of what the server speaks; domain decisions (who a human is, what a resource server accepts, how a
// token is recorded) live in their own modules and are wired in here.
import Provider, { errors, type Account, type CIBAEnabledConfiguration, type Configuration, type JWK, type KoaContextWithOIDC } from 'oidc-provider';
import { JWKS_MAX_AGE_SECONDS } from '../keys/rotation-policy.js';
import type { Logger } from '../observability/logger.js';
import { clientTraits, type ClientLike } from '../clients/client-traits.js';
import { allowanceOrThrow, consentEveryTime, targetResource, type Allowance } from '../policy/decide.js';
import { PolicyRefusal } from '../policy/rules.js';
import type { SecretHasher } from '../secrets/secret-hasher.js';
import { actClaim, SUB_PROFILE, type PrincipalKind } from '../tokens/principals.js';
import { setTokenContext, tokenContextFor } from '../tokens/token-context.js';
import { CIBA_GRANT, OIDC_SCOPES, WORKLOAD_ONLY_CREDENTIAL } from '../clients/client-store.js';
import type { IssuedTokenModel } from '../tokens/token-recorder.js';
import type { AdapterFactory } from './adapter.js';
import { clientFacts, grantKindOf, requestedResourceScopes, type PolicyClientMetadata, type RequestFactsLoader } from './request-facts.js';
import { isDatabaseUnavailable, outageLog } from '../http/outage.js';
import { words } from '../text/words.js';
import { EXTERNAL_SIGNING_FEATURE, providerSigningKeys } from './signing-keys.js';

export type InteractionPages = {
  /** Where login and consent prompts send the browser. */
  url(ctx: KoaContextWithOIDC, interaction: { uid: string }): string;
  logoutSource?: NonNullable<NonNullable<Configuration['features']>['rpInitiatedLogout']>['logoutSource'];
  postLogoutSuccessSource?: NonNullable<NonNullable<Configuration['features']>['rpInitiatedLogout']>['postLogoutSuccessSource'];
  renderError?: Configuration['renderError'];
};

export type ProviderOptions = {
  issuer: string;
  adapter: AdapterFactory;
  /** Private signing keys (JWK): the current one first; keys with key_ops ["verify"] are published, never used. */
  signingKeys: JWK[];
  /** Keys for signed cookies, newest first. */
  cookieKeys: string[];
  trustProxy: boolean;
  secrets: SecretHasher;
  /** Gathers the facts of a request for the policy (src/oauth/request-facts.ts). */
  gather: RequestFactsLoader;
  findAccount: (ctx: KoaContextWithOIDC, id: string) => Promise<Account | undefined>;
  interactions: InteractionPages;
  /** Called (awaited) for every JWT access token before it is signed: records it. */
  recordJwt: (ctx: KoaContextWithOIDC, token: IssuedTokenModel, payload: Record<string, unknown>) => Promise<void>;
  /** Asynchronous human approval (CIBA, poll mode): oidc-provider's hooks and the polling rules (src/approvals/backchannel-approvals.ts). */
  ciba?: { hooks: Omit<CIBAEnabledConfiguration, 'enabled'>; polling: Parameters<Provider['use']>[0]; stepUpTokenTtl: number };
  /** Grants of this server's own (RFC 8693 token exchange: src/oauth/grants/token-exchange.ts). */
  grants: Array<{ grantType: string; handler: (ctx: KoaContextWithOIDC) => Promise<void>; parameters: string[]; repeatable: string[] }>;
  /** Records a request oidc-provider refused (authorization, token, backchannel endpoints) in the audit log. */
  auditRefusal?: (ctx: KoaContextWithOIDC, endpoint: 'authorization' | 'backchannel_authentication' | 'token' | 'introspection' | 'revocation', error: { error?: string | undefined; error_description?: string | undefined; message: string; rule?: string | undefined }) => void;
  /** Clients that arrive by themselves (src/oauth/client-id-metadata.ts): the CIMD feature and the guarded outbound fetch. */
  dynamicClients?: { fetch: Configuration['fetch']; features: Record<string, unknown> };
  /** Workload identity federation (src/oauth/workload-authentication.ts): the one-time credentials of its seam. */
  workloadCredentials?: { accepts(credential: string, clientId: string): boolean };
  /** Whether a resource is served by another authorization server (never a default resource here). */
  isRemoteResource?: (ctx: KoaContextWithOIDC, identifier: string) => Promise<boolean>;
  /** Extra server metadata (discovery and RFC 8414), e.g. the ID-JAG grant profile. */
  metadata?: Record<string, unknown>;
  log: Logger;
  ttl: { accessToken: number; refreshToken: number; session: number; grant: number };
};




/** How oidc-provider issues tokens for a registered resource: RFC 9068 JWTs, for as long as the policy allows. */
export function resourceServerInfo(identifier: string, scopes: string[], lifetime: number) {
  return {
    audience: identifier,
    scope: scopes.join(' '),
    accessTokenTTL: lifetime,
    accessTokenFormat: 'jwt' as const,
    jwt: { sign: { alg: 'ES256' as const } },
  };
}

export function createProvider(options: ProviderOptions): Provider {
  const configuration: Configuration = {
    adapter: options.adapter,
    // The signing key signs through node:crypto (src/oauth/signing-keys.ts); the others are published only.
    jwks: { keys: providerSigningKeys(options.signingKeys) },
    cookies: {
      keys: options.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    findAccount: async (ctx, id) => options.findAccount(ctx, id),
    ...(options.metadata ? { discovery: options.metadata } : {}),
    scopes: OIDC_SCOPES,
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
    // Set by the client registry: what kind of principal a client is (app or agent), read when tokens are issued;
    // and, for a client that is a resource server's own, that resource's identifier (it may introspect its tokens).
    extraClientMetadata: {
      properties: ['principal_kind', 'agent_origin', 'resource_server', 'ceiling_scopes', 'allowed_resources', 'max_token_ttl'],
      validator(_ctx, key, value) {
        if (key === 'principal_kind' && value !== undefined && value !== 'app' && value !== 'agent') {
          throw new errors.InvalidClientMetadata('principal_kind must be app or agent');
        }
        if (key === 'resource_server' && value !== undefined && typeof value !== 'string') {
          throw new errors.InvalidClientMetadata('resource_server must be a resource identifier');
        }
      },
    },
    clientDefaults: {
      id_token_signed_response_alg: 'ES256',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    // client_secret_jwt needs the plaintext secret, which is never stored.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256'],
      clientAuthSigningAlgValues: ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'],
      dPoPSigningAlgValues: ['ES256', 'EdDSA', 'RS256', 'PS256'],
    },
    responseTypes: ['code'],
    pkce: { required: () => true },
    ...(options.dynamicClients ? { fetch: options.dynamicClients.fetch } : {}),
    allowOmittingSingleRegisteredRedirectUri: false,
    features: {
      ...options.dynamicClients?.features,
      ...EXTERNAL_SIGNING_FEATURE,
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // A token's own client may introspect it, and so may the resource server it was issued for; nobody else
        // learns about other clients' tokens.
        allowedPolicy: async (_ctx, client, token) => {
          if (client.clientId === token.clientId) return true;
          const resourceServer = (client as unknown as { resource_server?: string }).resource_server;
          const audiences = ([] as unknown[]).concat((token as unknown as { aud?: unknown }).aud ?? []);
          return resourceServer !== undefined && client.clientAuthMethod !== 'none' && audiences.includes(resourceServer);
        },
      },
      // Only the client a token was issued to revokes it here; admins revoke anything through the admin API.
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => client.clientId === token.clientId },
      dPoP: { enabled: true },
      // CIBA: an agent asks a human without a browser; the human answers on /approvals; the agent polls.
      ...(options.ciba ? { ciba: { ...options.ciba.hooks, enabled: true, deliveryModes: ['poll'] as ['poll'] } } : {}),
      rpInitiatedLogout: {
        enabled: true,
        ...(options.interactions.logoutSource ? { logoutSource: options.interactions.logoutSource } : {}),
        ...(options.interactions.postLogoutSuccessSource ? { postLogoutSuccessSource: options.interactions.postLogoutSuccessSource } : {}),
      },
      resourceIndicators: {
        enabled: true,
        // A request without `resource` gets the client's single allowed resource, or a sign-in without one, or
        // invalid_target (src/policy/decide.ts, targetResource).
        defaultResource: async (ctx, client, oneOf) => {
          if (oneOf) return oneOf.length === 1 ? oneOf[0]! : oneOf;
          const grant = grantKindOf(ctx);
          if (!grant) return undefined as unknown as string;
          const facts = clientFacts(client);
          const asks = requestedResourceScopes(ctx).length > 0;
          const target = policyEdge(() => targetResource(facts, undefined, grant, asks));
          if (target === undefined || !(await options.isRemoteResource?.(ctx, target))) return target as string;
          return policyEdge(() => targetResource(facts, undefined, grant, asks, { defaultIsRemote: true })) as string;
        },
        // A granted resource is used without being named again, except a remote one (served by another
        // authorization server): a code or refresh for it signs the human in (ID token) and the agent asks for an
        // ID-JAG with that ID token; no access token of this server is ever issued for it.
        useGrantedResource: async (ctx, model) => {
          const granted = [(model as { resource?: string | string[] }).resource ?? []].flat();
          return !(granted.length === 1 && (await options.isRemoteResource?.(ctx, granted[0]!)));
        },
        // Every resource-bound token and every question to a human asks the policy: it answers the scopes the token
        // may carry (or a human may be asked for) and the lifetime, or refuses with a rule.
        getResourceServerInfo: async (ctx, identifier, client) => {
          const allowance = await decideFor(ctx, identifier, client);
          return resourceServerInfo(identifier, allowance.scopes, allowance.lifetime);
        },
      },
    },
    // A scope the human refused on the consent page counts as answered only within the authorization it was refused
    // in (else oidc-provider would prompt again straight away); a later request for it asks the human again.
    loadExistingGrant: async (ctx) => {
      // Some clients are asked every time (src/policy/decide.ts, consentEveryTime): no earlier answer stands in.
      if (!ctx.oidc.result && consentEveryTime(clientTraits(ctx.oidc.client as unknown as ClientLike))) return undefined;
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session?.grantIdFor(ctx.oidc.client!.clientId);
      const grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (grant && !ctx.oidc.result) delete (grant as { rejected?: unknown }).rejected;
      return grant;
    },
    interactions: { url: (ctx, interaction) => options.interactions.url(ctx, interaction) },
    ...(options.interactions.renderError ? { renderError: options.interactions.renderError } : {}),
    // Always rotated; but first the refresh must be one the policy allows (resource, scopes): a refused refresh
    // leaves the refresh token as it was, so the client's next honest refresh still works.
    rotateRefreshToken: async (ctx) => {
      const refreshToken = ctx.oidc.entities.RefreshToken as unknown as { resource?: string | string[]; resourceIndicators?: Set<string> };
      const requested = typeof ctx.oidc.params?.resource === 'string' ? ctx.oidc.params.resource : undefined;
      const granted = [refreshToken.resource ?? []].flat();
      if (requested !== undefined && !refreshToken.resourceIndicators?.has(requested)) {
        throw refusalError(new PolicyRefusal('resource_not_allowed', `${requested} was not part of this grant: ask the human again for it`));
      }
      const identifier = requested ?? (granted.length === 1 ? granted[0] : undefined);
      if (identifier) await decideFor(ctx, identifier, ctx.oidc.client!);
      return true;
    },
    ttl: {
      // A resource server's own lifetime wins; tokens without a resource (userinfo only) get the default.
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? options.ttl.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? options.ttl.accessToken,
      AuthorizationCode: 60,
      IdToken: options.ttl.accessToken,
      RefreshToken: options.ttl.refreshToken,
      Session: options.ttl.session,
      Grant: options.ttl.grant,
      Interaction: 600,
      // The agent may ask for less time (requested_expiry), never more than ten minutes.
      BackchannelAuthenticationRequest: (ctx) => Math.min(600, Number(ctx?.oidc?.params?.requested_expiry) || 600),
      DeviceCode: 600,
    },
    // Every token says what kind of principal its subject is and, when an agent acts for a human, who acts (`act`,
    // current actor outermost). Stored with the token, so introspection reports the same claims.
    extraTokenClaims: async (ctx, token) => {
      const clientKind = (token.client as unknown as PolicyClientMetadata | undefined)?.principal_kind ?? 'app';
      const human = 'accountId' in token && Boolean(token.accountId);
      const subjectKind: PrincipalKind = human ? 'human' : clientKind;
      // A consent's once-only scopes are spent by the token they were for (src/policy/decide.ts reads them as fresh).
      const decision = ctx?.state ? decisionOf(ctx.state) : undefined;
      const grantId = (token as { grantId?: unknown }).grantId;
      if (decision && decision.approvalOnly.length > 0 && typeof grantId === 'string') await spendOnceOnlyScopes(ctx.oidc.provider, grantId, decision);
      const act = actClaim(tokenContextFor(ctx?.state, token as { accountId?: unknown; clientId?: unknown }, clientKind).actorChain);
      // A client acting for itself is the subject: said explicitly so introspection reports it too (JWTs already do).
      return { sub_profile: SUB_PROFILE[subjectKind], ...(human ? {} : { sub: token.clientId }), ...(act ? { act } : {}) };
    },
    formats: {
      customizers: {
        jwt: async (ctx, token, jwt) => {
          jwt.header = { ...jwt.header, typ: 'at+jwt' };
          await options.recordJwt(ctx, token as unknown as IssuedTokenModel, jwt.payload as Record<string, unknown>);
        },
      },
    },
    // Refresh tokens to clients allowed the grant, without asking for offline_access (MCP clients never do; a
    // refresh token never outlives the Grant, whose life is the approval's). Never from a CIBA answer, nor from a
    // token carrying approval-only scopes: that approval was for one token.
    issueRefreshToken: async (ctx, client) =>
      client.grantTypeAllowed('refresh_token') && ctx.oidc.params?.grant_type !== CIBA_GRANT && (decisionOf(ctx.state)?.approvalOnly.length ?? 0) === 0,
  };

  /** Gathers the facts of this request for one resource and asks the policy; a refusal becomes the OAuth error. */
  async function decideFor(ctx: KoaContextWithOIDC, identifier: string, client: { clientId: string }): Promise<Allowance> {
    const decided = decisions(ctx.state);
    const known = decided.get(identifier);
    if (known) return known;
    const facts = await options.gather(ctx, identifier, client);
    const allowance = policyEdge(() => allowanceOrThrow(facts));
    decided.set(identifier, allowance);
    // An authorization naming a resource but none of its scopes is for what the human already granted there, or,
    // the first time, for the most the policy allows (never an approval-only scope, which must be asked for by name):
    // never an empty-scope token.
    if (facts.grant === 'authorization' && facts.requestedScopes === undefined) {
      const grantId = ctx.oidc.session?.grantIdFor(client.clientId);
      const granted = grantId ? String((await ctx.oidc.provider.Grant.find(grantId))?.getResourceScope(identifier) ?? '').split(' ') : [];
      const standing = allowance.scopes.filter((scope) => !allowance.approvalOnly.includes(scope));
      const asked = standing.some((scope) => granted.includes(scope)) ? standing.filter((scope) => granted.includes(scope)) : standing;
      ctx.oidc.params!.scope = [...new Set([...words(ctx.oidc.params!.scope), ...asked])].join(' ');
    }
    if (ctx.oidc.route === 'token') {
      // Client credentials without `scope`: the most the policy allows, never an empty-scope token.
      if (facts.grant === 'client_credentials' && !ctx.oidc.params!.scope) ctx.oidc.params!.scope = allowance.scopes.join(' ');
      setTokenContext(ctx.state, { actorChain: allowance.actorChain, approvalId: allowance.approvalId, decision: allowance.trail });
      (ctx.state as { decision?: Allowance }).decision = allowance;
    }
    return allowance;
  }

  /**
   * Once-only scopes granted on the consent page are good for one token: once it is issued the Grant forgets them,
   * so neither a later authorization nor a refresh under the Grant yields them without asking the human again.
   */
  async function spendOnceOnlyScopes(provider: Provider, grantId: string, decision: Allowance) {
    const grant = await provider.Grant.find(grantId);
    const resources = (grant as unknown as { resources?: Record<string, string> } | undefined)?.resources;
    if (!grant || !resources?.[decision.resource]) return;
    resources[decision.resource] = resources[decision.resource]!.split(' ').filter((scope) => !decision.approvalOnly.includes(scope)).join(' ');
    await grant.save();
  }

  const provider = new Provider(options.issuer, configuration);
  provider.proxy = options.trustProxy;

  // Refusals are on the record with the rule that refused (the error and its description), once each. This server's
  // own grants audit the refusals of their policy themselves (and say so in the request state); anything refused
  // before their handler runs (client authentication, parameters) is recorded here like any other grant's. The token
  // endpoint's refusals are recorded as sent, after every middleware had its say (CIBA polling turns
  // authorization_pending into slow_down).
  if (options.auditRefusal) {
    const audit = options.auditRefusal;
    provider.on('authorization.error', (ctx, error) => audit(ctx, 'authorization', error));
    provider.on('backchannel_authentication.error', (ctx, error) => audit(ctx, 'backchannel_authentication', error));
    provider.on('introspection.error', (ctx, error) => audit(ctx, 'introspection', error));
    provider.on('revocation.error', (ctx, error) => audit(ctx, 'revocation', error));
    provider.on('grant.error', (ctx, error) => {
      (ctx.state as { refusalRule?: string }).refusalRule = (error as { rule?: string }).rule;
    });
  }

  // After oidc-provider answered (one middleware for both, each costs every request an async frame):
  // - resource servers may cache the JWKS this long; `agentauth keys rotate` waits at least as long after publishing
  //   a key before it signs with it (src/keys/rotation-policy.ts);
  // - a refused token request is audited with the policy's rule (the other endpoints have error events).
  const auditRefusal = options.auditRefusal;
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (route === 'jwks' && ctx.status === 200) ctx.set('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    if (!auditRefusal || route !== 'token' || ctx.status < 400 || (ctx.state as { refusalAudited?: boolean }).refusalAudited) return;
    const body = (ctx.body ?? {}) as { error?: string; error_description?: string };
    auditRefusal(ctx as unknown as KoaContextWithOIDC, 'token', { error: body.error, error_description: body.error_description, message: body.error ?? 'refused', rule: (ctx.state as { refusalRule?: string }).refusalRule });
  });
  if (options.ciba) provider.use(options.ciba.polling);
  for (const grant of options.grants) provider.registerGrantType(grant.grantType, grant.handler, grant.parameters, grant.repeatable);

  // Generated client secrets are stored as keyed hashes; the client's `clientSecret` here is that hash.
  // An agent that authenticates only with its platform's assertions has no secret: its stand-in accepts the one-time
  // credential the workload seam minted for it in this request, and nothing else.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret: string; clientId: string }, actual: string) {
    if (typeof actual !== 'string') return Promise.resolve(false);
    if (this.clientSecret === WORKLOAD_ONLY_CREDENTIAL) return Promise.resolve(options.workloadCredentials?.accepts(actual, this.clientId) === true);
    return Promise.resolve(options.secrets.verify(actual, this.clientSecret));
  } as never;

  // A database outage fails every request alike: the edge answers 503 (src/http/edge.ts) and the log gets one line
  // per interval; any other fault is logged in full.
  const outages = outageLog(options.log);
  provider.on('server_error', (ctx, error) => {
    if (!isDatabaseUnavailable(error)) return options.log.error({ err: error }, 'oidc-provider server error');
    if (ctx?.state) (ctx.state as { databaseUnavailable?: boolean }).databaseUnavailable = true;
    outages.report(error);
  });
  return provider;
}

const DECISIONS = Symbol('policy decisions');

/** The policy's allowances in this request, by resource (the authorization endpoint may name several). */
function decisions(state: unknown): Map<string, Allowance> {
  const holder = state as { [DECISIONS]?: Map<string, Allowance> };
  return (holder[DECISIONS] ??= new Map());
}

/** The allowance of the token being issued in this request, if the policy made one. */
function decisionOf(state: unknown): Allowance | undefined {
  return (state as { decision?: Allowance } | undefined)?.decision;
}

/** The OAuth error for a policy refusal, carrying the rule so the refusal's audit event names it. */
function refusalError(refusal: PolicyRefusal): Error {
  return Object.assign(new errors.CustomOIDCProviderError(refusal.code, refusal.message), { rule: refusal.rule });
}

/** Runs a policy step; a refusal becomes the OAuth error the client sees. */
function policyEdge<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof PolicyRefusal) throw refusalError(error);
    throw error;
  }
}
