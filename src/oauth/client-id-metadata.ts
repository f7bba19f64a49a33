// OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a client whose client_id is an
// https URL is described by the JSON document at that URL, so MCP clients connect with nothing registered by hand.
// oidc-provider implements the draft (features.clientIdMetadataDocument, experimental in 9.x): it fetches the
// document through our `fetch` hook (src/oauth/outbound-fetch.ts: https only, no private/loopback addresses), checks
// that its client_id is its URL, refuses secrets, honours the response's cache headers (Cache-Control max-age or
// Expires, between `cacheDuration.min` and `.max`) and caps its size (`fetchResponseBodyLimits`, 5 KiB). This module
// adds what agentauth needs on top:
// - the admin's domain policy (deny list; allow list when AGENTAUTH_DYNAMIC_CLIENT_TRUST=allowlist) and the kill
//   switch: a suspended agent or a blocked domain is refused before anything is fetched or issued;
// - every such client is an agent without an owner (recorded on first use, src/clients/dynamic-client-store.ts),
//   whatever the document claims: our own client metadata (principal_kind, agent_*, resource_server) never comes
//   from it, and it may be consented to at the resources open to dynamic clients.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../observability/logger.js';
import type { ResourceStore } from '../resources/resource-store.js';
import type { DynamicClientState, DynamicClientStore } from '../clients/dynamic-client-store.js';
import { outboundFetch } from './outbound-fetch.js';

/** The draft version oidc-provider 9.13 implements; the feature refuses to start unless it is acknowledged. */
export const CIMD_DRAFT = 'draft-02';

/** Seconds a fetched document is cached at least and at most, whatever its headers say. */
export const CIMD_CACHE_SECONDS = { min: 60, max: 86_400 };

export type ClientIdMetadataOptions = {
  enabled: boolean;
  allowLoopbackFetch: boolean;
  trust: 'any' | 'allowlist';
  store: DynamicClientStore;
  resources: ResourceStore;
  /** Seconds: the token lifetime cap for agents without one of their own. */
  defaultTokenTtl: number;
  log: Logger;
};

/** Client metadata that only the client registry sets; a self-described client never supplies it. */
const REGISTRY_ONLY = ['principal_kind', 'agent_origin', 'agent_scopes', 'agent_audiences', 'agent_max_token_ttl', 'resource_server', 'ceiling_scopes', 'allowed_resources', 'max_token_ttl'] as const;

/** Whether the admin's policy lets a client from this host in. */
export function domainAdmits(state: Pick<DynamicClientState, 'domainRule'>, trust: 'any' | 'allowlist'): boolean {
  if (state.domainRule === 'deny') return false;
  return trust === 'any' || state.domainRule === 'allow';
}

type ProviderClient = { clientId: string; metadata(): Record<string, unknown> } & Record<string, unknown>;

/**
 * Makes a client instance an agent without an owner, whatever it described itself as. Shared with DCR clients
 * (src/oauth/dynamic-registration.ts). Answers the metadata worth recording.
 */
export async function asDynamicAgent(client: ProviderClient, origin: 'cimd' | 'dcr', deps: Pick<ClientIdMetadataOptions, 'resources' | 'defaultTokenTtl'>) {
  for (const key of REGISTRY_ONLY) delete client[key];
  Object.assign(client, {
    principal_kind: 'agent',
    agent_origin: origin,
    // Bounded by the human's consent only; where it may be consented to is the resources open to dynamic clients.
    agent_audiences: await deps.resources.openToDynamicClients(),
    agent_max_token_ttl: deps.defaultTokenTtl,
  });
  const recorded = client.metadata();
  for (const key of REGISTRY_ONLY) delete recorded[key];
  return recorded;
}

/**
 * oidc-provider's `features.clientIdMetadataDocument`, plus the `fetch` hook every outbound request goes through.
 * provider.ts spreads `features` into its features and `fetch` into its configuration.
 */
export function clientIdMetadataDocument(options: ClientIdMetadataOptions) {
  if (options.allowLoopbackFetch) {
    options.log.warn('AGENTAUTH_CIMD_ALLOW_LOOPBACK=true: client metadata documents and jwks_uri may be fetched from loopback addresses; for development and tests only');
  }
  const hostOf = (clientId: string) => new URL(clientId).hostname;

  return {
    fetch: outboundFetch({ allowLoopback: options.allowLoopbackFetch }),
    features: {
      clientIdMetadataDocument: {
        enabled: options.enabled,
        ack: CIMD_DRAFT,
        cacheDuration: CIMD_CACHE_SECONDS,
        // Before any fetch: a blocked domain or a suspended agent is not worth a request.
        async allowFetch(_ctx: KoaContextWithOIDC | undefined, clientId: string) {
          const state = await options.store.state(clientId, hostOf(clientId));
          return state.status !== 'suspended' && domainAdmits(state, options.trust);
        },
        // On every use (cached documents too): the kill switch and the domain policy apply at once.
        async allowClient(_ctx: KoaContextWithOIDC | undefined, client: unknown) {
          const instance = client as ProviderClient;
          const state = await options.store.state(instance.clientId, hostOf(instance.clientId));
          if (state.status === 'suspended' || !domainAdmits(state, options.trust)) return false;
          const recorded = await asDynamicAgent(instance, 'cimd', options);
          await options.store.recordUse(instance.clientId, 'cimd', recorded as never);
          return true;
        },
      },
    },
  };
}
