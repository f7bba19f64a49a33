// Gather, for oidc-provider's own endpoints (authorization, CIBA request, and the code, refresh, client-credentials
// and CIBA grants): one loader reads the facts of this request (client and its ceilings, resource, the human's
// consent and approval) into the plain object src/policy/decide.ts decides on. The client's facts arrive with the
// authenticated client (src/clients/client-store.ts reads the live record), so a request costs at most two reads here:
// the resource, and the approval behind the human's Grant.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ApprovalStore } from '../approvals/approval-store.js';
import { clientTraits, type ClientLike } from '../clients/client-traits.js';
import { CIBA_GRANT, OIDC_SCOPES } from '../clients/client-store.js';
import type { ClientFacts, GrantKind, RequestFacts } from '../policy/facts.js';
import { toResourceFacts, type ResourceStore } from '../resources/resource-store.js';
import { words } from '../text/words.js';

/** What the client registry puts on every client's metadata for the policy (src/clients/client-store.ts). */
export type PolicyClientMetadata = {
  principal_kind?: 'app' | 'agent';
  ceiling_scopes?: string[];
  allowed_resources?: string[];
  max_token_ttl?: number | null;
};

export function clientFacts(client: { clientId: string }): ClientFacts {
  const m = client as unknown as PolicyClientMetadata;
  const traits = clientTraits(client as ClientLike);
  return {
    id: client.clientId,
    kind: m.principal_kind ?? 'app',
    // A suspended agent is no client at all (the registry does not find it), so an authenticated client is active.
    active: true,
    scopes: m.ceiling_scopes ?? [],
    resources: m.allowed_resources ?? [],
    maxTokenTtl: m.max_token_ttl ?? undefined,
    // Arrived by itself (CIMD, DCR): bounded by the human's consent, not by ceilings of its own.
    dynamic: traits.dynamic,
    publicClient: traits.publicClient,
  };
}

const OIDC = new Set(OIDC_SCOPES);
/** The one value of a parameter oidc-provider parsed (the first, when it was repeated and allowed to be). */
export const one = (value: unknown): string | undefined => (Array.isArray(value) ? value[0] : typeof value === 'string' ? value : undefined);
/** Every value of a repeatable parameter. */
export const all = (value: unknown): string[] => (Array.isArray(value) ? value : typeof value === 'string' ? [value] : []);

/** Which decision an oidc-provider request asks for. */
export function grantKindOf(ctx: KoaContextWithOIDC): GrantKind | undefined {
  const route = ctx.oidc?.route;
  // The CIBA request is a question to a human (like the authorization endpoint); the CIBA grant is the answer.
  if (route === 'backchannel_authentication') return 'backchannel';
  if (route !== 'token') return 'authorization';
  switch (ctx.oidc.params?.grant_type) {
    case 'authorization_code': return 'authorization_code';
    case 'refresh_token': return 'refresh_token';
    case 'client_credentials': return 'client_credentials';
    case CIBA_GRANT: return 'ciba';
    default: return undefined;
  }
}

/** The resource scopes a request names (OpenID Connect scopes are not the policy's: they never reach a resource). */
export function requestedResourceScopes(ctx: KoaContextWithOIDC): string[] {
  return words(ctx.oidc.params?.scope).filter((scope) => !OIDC.has(scope));
}

export type RequestFactsDeps = {
  resources: ResourceStore;
  approvals: ApprovalStore;
  limits: RequestFacts['limits'];
};

const RESOURCES = Symbol('resources read in this request');

/**
 * The registered resource `identifier`, read once per request: the resource indicator hooks (is a granted or default
 * resource remote?) and the policy's facts ask about the same resource in one token request.
 */
function resourceOf(ctx: KoaContextWithOIDC, resources: ResourceStore, identifier: string) {
  type Read = ReturnType<ResourceStore['findByIdentifier']>;
  const state = ctx.state as { [RESOURCES]?: Map<string, Read> };
  const read = (state[RESOURCES] ??= new Map<string, Read>());
  const found = read.get(identifier) ?? resources.findByIdentifier(identifier);
  read.set(identifier, found);
  return found;
}

/** Whether a resource is served by another authorization server (never a default resource, no token of ours). */
export function remoteResourceCheck(resources: ResourceStore) {
  return async (ctx: KoaContextWithOIDC, identifier: string): Promise<boolean> => Boolean((await resourceOf(ctx, resources, identifier))?.authorizationServer);
}

export function createRequestFactsLoader(deps: RequestFactsDeps) {
  return async function gather(ctx: KoaContextWithOIDC, identifier: string, client: { clientId: string }, now = Date.now()): Promise<RequestFacts> {
    const grant: GrantKind = grantKindOf(ctx) ?? 'authorization';
    const entities = (ctx.oidc.entities ?? {}) as {
      Grant?: { jti?: string; getResourceScope(resource: string): string };
      AuthorizationCode?: { accountId?: string };
      RefreshToken?: { accountId?: string };
      BackchannelAuthenticationRequest?: { accountId?: string };
    };
    const facts = clientFacts(client);
    const source = entities.AuthorizationCode ?? entities.RefreshToken ?? entities.BackchannelAuthenticationRequest;
    const human = grant !== 'authorization' && grant !== 'backchannel' && grant !== 'client_credentials' && source?.accountId ? source.accountId : undefined;
    const grantId = entities.Grant?.jti;
    // Both reads at once when there are two; a client alone (client credentials) awaits its one read directly.
    const readsApproval = Boolean(human && facts.kind === 'agent' && grantId);
    const [resource, approval] = readsApproval
      ? await Promise.all([resourceOf(ctx, deps.resources, identifier), deps.approvals.forGrant(grantId!)])
      : [await resourceOf(ctx, deps.resources, identifier), undefined];
    const consented = human && entities.Grant ? words(entities.Grant.getResourceScope(identifier)) : undefined;
    const approvalOnly = resource ? new Set(toResourceFacts(resource).approvalOnly) : new Set<string>();
    // The code and CIBA grants carry what the human answered; the others name scopes in this request. An
    // authorization naming several resources asks each for the scopes it defines.
    const several = Array.isArray(ctx.oidc.params?.resource) && ctx.oidc.params.resource.length > 1;
    const requested = (grant === 'authorization_code' || grant === 'ciba' ? [] : requestedResourceScopes(ctx))
      .filter((scope) => !several || resource?.scopes.some((s) => s.name === scope));
    return {
      grant,
      now,
      client: facts,
      requestedResource: identifier,
      resource: resource ? toResourceFacts(resource) : undefined,
      requestedScopes: requested.length > 0 ? requested : undefined,
      human: human ? { id: human, active: true } : undefined,
      consented,
      approvals: approval && approval.status === 'active' && approval.expiresAt.getTime() > now
        ? [{ id: approval.id, agentId: approval.agentId, scopes: approval.scopes, resources: approval.resources, expiresAt: approval.expiresAt.getTime() }]
        : undefined,
      // The human's answer to a CIBA request, and a consent's once-only scopes still held by the Grant, are fresh
      // approvals: good for the token of this request (src/oauth/provider.ts spends the consent's after issuing).
      fresh: consented?.filter((scope) => approvalOnly.has(scope)),
      limits: deps.limits,
    };
  };
}

export type RequestFactsLoader = ReturnType<typeof createRequestFactsLoader>;
