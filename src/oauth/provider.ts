// The oidc-provider instance: the OAuth 2.0 / OpenID Connect protocol engine. This file is the documented
// configuration of what the server speaks; domain decisions (who a human is, what a resource server accepts, how a
// token is recorded) live in their own modules and are wired in here.
import Provider, { errors, type Account, type CIBAEnabledConfiguration, type Configuration, type JWK, type KoaContextWithOIDC } from 'oidc-provider';
import { JWKS_MAX_AGE_SECONDS } from '../keys/rotation-policy.js';
import type { Logger } from '../observability/logger.js';
import type { Resource, ResourceStore } from '../resources/resource-store.js';
import type { SecretHasher } from '../secrets/secret-hasher.js';
import { actClaim, SUB_PROFILE, type PrincipalKind } from '../tokens/principals.js';
import { setTokenContext, tokenContextFor } from '../tokens/token-context.js';
import { OIDC_SCOPES } from '../clients/client-store.js';
import { TOKEN_EXCHANGE } from '../agents/agent-store.js';
import type { AdapterFactory } from './adapter.js';
import { isDatabaseUnavailable, outageLog } from '../http/outage.js';
import { PARAMETERS as TOKEN_EXCHANGE_PARAMETERS, REPEATABLE as TOKEN_EXCHANGE_REPEATABLE } from './grants/token-exchange.js';

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
  resources: ResourceStore;
  findAccount: (ctx: KoaContextWithOIDC, id: string) => Promise<Account | undefined>;
  interactions: InteractionPages;
  /** Called (awaited) for every JWT access token before it is signed: records it. */
  recordJwt: (ctx: KoaContextWithOIDC, token: IssuedTokenModel, payload: Record<string, unknown>) => Promise<void>;
  /** The approval an oidc-provider Grant stands for (consent/CIBA by an agent client): linked from issued tokens. */
  approvalForGrant?: (grantId: string) => Promise<string | undefined>;
  /** Asynchronous human approval (CIBA, poll mode): oidc-provider's hooks and the polling rules (src/approvals/backchannel-approvals.ts). */
  ciba?: { hooks: Omit<CIBAEnabledConfiguration, 'enabled'>; polling: Parameters<Provider['use']>[0]; stepUpTokenTtl: number };
  /** The RFC 8693 token exchange grant handler (src/oauth/grants/token-exchange.ts). */
  tokenExchange: (ctx: KoaContextWithOIDC) => Promise<void>;
  /** Records a request oidc-provider refused (authorization, token, backchannel endpoints) in the audit log. */
  auditRefusal?: (ctx: KoaContextWithOIDC, endpoint: string, error: { error?: string; error_description?: string; message: string }) => void;
  log: Logger;
  ttl: { accessToken: number; refreshToken: number; session: number; grant: number };
};

/** The token model instance oidc-provider hands to the JWT customizer. */
export type IssuedTokenModel = {
  kind: string;
  jti: string;
  constructor: { IN_PAYLOAD: string[] };
  extra?: Record<string, unknown>;
} & Record<string, unknown>;


/** Client metadata the client registry adds for agents (src/clients/client-store.ts). */
export type AgentClientMetadata = {
  principal_kind?: PrincipalKind;
  /** The agent's scope ceiling. */
  agent_scopes?: string[];
  agent_audiences?: string[];
  agent_max_token_ttl?: number;
};

/** How oidc-provider issues tokens for a registered resource: RFC 9068 JWTs, for minutes. */
export function resourceServerInfo(resource: Resource, scopes: string[], maxTtl = Infinity) {
  return {
    audience: resource.identifier,
    scope: scopes.join(' '),
    accessTokenTTL: Math.min(resource.accessTokenTtl, maxTtl),
    accessTokenFormat: 'jwt' as const,
    jwt: { sign: { alg: 'ES256' as const } },
  };
}

export function createProvider(options: ProviderOptions): Provider {
  const configuration: Configuration = {
    adapter: options.adapter,
    jwks: { keys: options.signingKeys },
    cookies: {
      keys: options.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    findAccount: async (ctx, id) => options.findAccount(ctx, id),
    scopes: OIDC_SCOPES,
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
    // Set by the client registry: what kind of principal a client is (app or agent), read when tokens are issued;
    // and, for a client that is a resource server's own, that resource's identifier (it may introspect its tokens).
    extraClientMetadata: {
      properties: ['principal_kind', 'resource_server', 'agent_scopes', 'agent_audiences', 'agent_max_token_ttl'],
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
    allowOmittingSingleRegisteredRedirectUri: false,
    features: {
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
        // No implicit audience: a token for a resource server is asked for by name.
        defaultResource: (_ctx, _client, oneOf) => oneOf ?? undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: async (ctx, identifier, client) => {
          const agent = client as unknown as AgentClientMetadata;
          if (agent.principal_kind === 'agent' && !agent.agent_audiences?.includes(identifier)) {
            throw new errors.InvalidTarget(`${identifier} is not among this agent's allowed audiences`);
          }
          const resource = await options.resources.findByIdentifier(identifier);
          if (!resource) throw new errors.InvalidTarget(`${identifier} is not a registered resource server`);
          // An agent never gets a scope outside its ceiling.
          const scopes = resource.scopes.map((s) => s.name).filter((scope) => !agent.agent_scopes || agent.agent_scopes.includes(scope));
          // A token request names one resource: a scope it does not allow is refused, not silently dropped.
          if (ctx.oidc.route === 'token') {
            const allowed = new Set([...OIDC_SCOPES, ...scopes]);
            const requested = typeof ctx.oidc.params?.scope === 'string' ? ctx.oidc.params.scope.split(' ').filter(Boolean) : [];
            const refused = requested.filter((scope) => !allowed.has(scope));
            if (refused.length > 0) {
              const why = agent.agent_scopes ? 'does not define or this agent may not have' : 'defines no';
              throw new errors.InvalidScope(`${identifier} ${why} scope ${refused.join(', ')}`, refused.join(' '));
            }
          }
          // Step-up: a token carrying a requires_approval scope comes from one fresh human approval (a CIBA request
          // or a consent, spent by this one token) and lives briefly.
          const source = (ctx.oidc.entities?.BackchannelAuthenticationRequest ?? ctx.oidc.entities?.AuthorizationCode) as { scope?: string } | undefined;
          const stepUp = new Set(resource.scopes.filter((s) => s.requires_approval).map((s) => s.name));
          const stepped = options.ciba && source?.scope?.split(' ').some((scope) => stepUp.has(scope));
          return resourceServerInfo(resource, scopes, Math.min(agent.agent_max_token_ttl ?? Infinity, stepped ? options.ciba!.stepUpTokenTtl : Infinity));
        },
      },
    },
    // A scope the human refused on the consent page counts as answered only within the authorization it was refused
    // in (else oidc-provider would prompt again straight away); a later request for it asks the human again.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session?.grantIdFor(ctx.oidc.client!.clientId);
      const grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (grant && !ctx.oidc.result) delete (grant as { rejected?: unknown }).rejected;
      return grant;
    },
    interactions: { url: (ctx, interaction) => options.interactions.url(ctx, interaction) },
    ...(options.interactions.renderError ? { renderError: options.interactions.renderError } : {}),
    rotateRefreshToken: true,
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
      const clientKind = (token.client as unknown as AgentClientMetadata | undefined)?.principal_kind ?? 'app';
      const human = 'accountId' in token && Boolean(token.accountId);
      const subjectKind: PrincipalKind = human ? 'human' : clientKind;
      // Human approval (consent, CIBA) of an agent client: the token context names the approval behind the Grant, so
      // the issued-token record links to it and withdrawing the approval reaches the token (revocation cascade).
      const grantId = (token as { grantId?: unknown }).grantId;
      if (human && clientKind === 'agent' && ctx?.state && !(ctx.state as { tokenContext?: unknown }).tokenContext && typeof grantId === 'string' && options.approvalForGrant) {
        const approvalId = await options.approvalForGrant(grantId);
        setTokenContext(ctx.state, { actorChain: [{ sub: String(token.clientId), kind: 'agent' }], approvalId });
        await spendStepUpScopes(ctx.oidc.provider, grantId, token as { scope?: unknown; resourceServer?: { audience?: unknown } });
      }
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
    // Refresh tokens only where offline access was granted, to clients allowed the grant.
    // Never from a CIBA approval: it answers one request with one token (step-up scopes must not outlive it).
    // Nor from an authorization that carried a step-up scope: that approval was for one token only.
    issueRefreshToken: async (ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access') && ctx.oidc.params?.grant_type !== 'urn:openid:params:grant-type:ciba' &&
      (await stepUpScopesOf([code.resource].flat().filter((r): r is string => typeof r === 'string'), [...code.scopes])).length === 0,
  };

  /** The requires_approval scopes among `scopes` at these resources. */
  async function stepUpScopesOf(resources: string[], scopes: string[]): Promise<string[]> {
    const stepUp = new Set<string>();
    for (const identifier of resources) {
      for (const scope of (await options.resources.findByIdentifier(identifier))?.scopes ?? []) if (scope.requires_approval) stepUp.add(scope.name);
    }
    return scopes.filter((scope) => stepUp.has(scope));
  }

  /**
   * A step-up scope granted on the consent page is good for one token: once that token is issued the Grant forgets it,
   * so neither a later authorization nor anything else under the Grant yields it without asking the human again.
   */
  async function spendStepUpScopes(provider: Provider, grantId: string, token: { scope?: unknown; resourceServer?: { audience?: unknown } }) {
    const audience = token.resourceServer?.audience;
    if (typeof audience !== 'string' || typeof token.scope !== 'string') return;
    const spent = await stepUpScopesOf([audience], token.scope.split(' '));
    if (spent.length === 0) return;
    const grant = await provider.Grant.find(grantId);
    const resources = (grant as unknown as { resources?: Record<string, string> } | undefined)?.resources;
    if (!grant || !resources?.[audience]) return;
    resources[audience] = resources[audience].split(' ').filter((scope) => !spent.includes(scope)).join(' ');
    await grant.save();
  }

  const provider = new Provider(options.issuer, configuration);
  provider.proxy = options.trustProxy;

  // Resource servers may cache the JWKS this long; `agentauth keys rotate` waits at least as long after publishing a
  // key before it signs with it (src/keys/rotation-policy.ts).
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'jwks' && ctx.status === 200) ctx.set('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
  });
  if (options.ciba) provider.use(options.ciba.polling);
  provider.registerGrantType(TOKEN_EXCHANGE, options.tokenExchange, TOKEN_EXCHANGE_PARAMETERS, TOKEN_EXCHANGE_REPEATABLE);

  // Generated client secrets are stored as keyed hashes; the client's `clientSecret` here is that hash.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret: string }, actual: string) {
    return Promise.resolve(typeof actual === 'string' && options.secrets.verify(actual, this.clientSecret));
  } as never;

  // A database outage fails every request alike: the edge answers 503 (src/http/edge.ts) and the log gets one line
  // per interval; any other fault is logged in full.
  const outages = outageLog(options.log);
  provider.on('server_error', (ctx, error) => {
    if (!isDatabaseUnavailable(error)) return options.log.error({ err: error }, 'oidc-provider server error');
    if (ctx?.state) (ctx.state as { databaseUnavailable?: boolean }).databaseUnavailable = true;
    outages.report(error);
  });
  // Refusals are on the record with the rule that refused (the error and its description), once each. Token exchange
  // audits its own refusals (CustomOIDCProviderError, with the delegation rule); anything refused before its handler
  // runs (client authentication, duplicate or unknown parameters, scopes) is recorded here like any other grant's.
  if (options.auditRefusal) {
    const audit = options.auditRefusal;
    provider.on('authorization.error', (ctx, error) => audit(ctx, 'authorization', error));
    provider.on('backchannel_authentication.error', (ctx, error) => audit(ctx, 'backchannel_authentication', error));
    provider.on('introspection.error', (ctx, error) => audit(ctx, 'introspection', error));
    provider.on('revocation.error', (ctx, error) => audit(ctx, 'revocation', error));
    provider.on('grant.error', (ctx, error) => {
      if (ctx.oidc?.params?.grant_type !== TOKEN_EXCHANGE || !(error instanceof errors.CustomOIDCProviderError)) audit(ctx, 'token', error);
    });
  }
  return provider;
}

