// Dynamic Client Registration (RFC 7591) for MCP clients that lack Client ID Metadata Document support; deprecated
// by the MCP authorization spec and off by default (AGENTAUTH_DCR=off|open|token). Registered clients are agents
// without an owner (origin dcr), exactly like CIMD clients: public (token_endpoint_auth_method none), the
// authorization code flow and refresh only, bounded by the human's consent, under the same kill switch and domain
// policy (their redirect host). Open registration is rate-limited per address, and a registration never used
// expires (AGENTAUTH_DCR_UNUSED_TTL_S). `token` mode wants AGENTAUTH_DCR_INITIAL_ACCESS_TOKEN as bearer.
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { ClientMetadata } from 'oidc-provider';
import type { Config } from '../config.js';
import { requestOrigin, type AuditEventInput } from '../audit/audit-log.js';
import type { ClientStore } from '../clients/client-store.js';
import type { DynamicClientStore } from '../clients/dynamic-client-store.js';
import type { ResourceStore } from '../resources/resource-store.js';
import { onlyFor } from '../http/paths.js';
import { bufferedBody, replaceBody } from '../http/request-body.js';
import { domainAdmits } from './client-id-metadata.js';

/** What a self-registered client may do: act for a consenting human through the browser, and refresh. */
const DCR_GRANTS = ['authorization_code', 'refresh_token'];
/** Client metadata only the registry sets; never taken from a registration request. */
const REGISTRY_ONLY = ['principal_kind', 'agent_origin', 'agent_scopes', 'agent_audiences', 'agent_max_token_ttl', 'resource_server', 'ceiling_scopes', 'allowed_resources', 'max_token_ttl'];

export type DynamicClientDeps = {
  clients: Pick<ClientStore, 'findMetadata'>;
  store: DynamicClientStore;
  resources: ResourceStore;
  config: Pick<Config, 'dynamicClients' | 'agents'>;
};

/** oidc-provider's `features.registration`. */
export function registrationFeature(config: Config['dynamicClients']) {
  return {
    registration: {
      enabled: config.dcr !== 'off',
      initialAccessToken: config.dcr === 'token' ? config.dcrInitialAccessToken! : false,
      // Agent ids are UUIDs like those the admin creates (admin paths, cursors).
      idFactory: () => randomUUID(),
      // No RFC 7592 management: a registration is changed by registering again.
      issueRegistrationAccessToken: false,
    },
  };
}

/**
 * The Client model's lookups and writes for clients that arrive by themselves: an https client_id is left to the
 * CIMD feature (undefined here), a DCR client gets the same agent facts as a CIMD one, and a registration is stored
 * as an agent without an owner.
 */
export function dynamicClientLookup(deps: DynamicClientDeps) {
  const { config } = deps;
  return {
    async find(clientId: string): Promise<ClientMetadata | undefined> {
      if (/^https:\/\//i.test(clientId)) return undefined;
      const metadata = await deps.clients.findMetadata(clientId);
      if (metadata?.agent_origin !== 'dcr') return metadata;
      const host = URL.parse(String((metadata.redirect_uris as string[] | undefined)?.[0] ?? ''))?.hostname ?? '';
      const state = await deps.store.state(clientId, host);
      if (!domainAdmits(state, config.dynamicClients.trust)) return undefined;
      await deps.store.markUsed(clientId);
      return {
        ...metadata,
        grant_types: (metadata.grant_types ?? []).filter((grant) => DCR_GRANTS.includes(grant)),
        agent_scopes: undefined,
        agent_audiences: await deps.resources.openToDynamicClients(),
        agent_max_token_ttl: config.agents.defaultTokenTtl,
        backchannel_token_delivery_mode: undefined,
      };
    },
    async register(clientId: string, metadata: ClientMetadata): Promise<void> {
      const recorded = Object.fromEntries(Object.entries(metadata).filter(([key]) => !REGISTRY_ONLY.includes(key)));
      const expiresAt = new Date(Date.now() + config.dynamicClients.dcrUnusedTtlSeconds * 1000);
      await deps.store.register({ ...recorded, client_id: clientId, principal_kind: 'agent', agent_origin: 'dcr' }, expiresAt);
    },
  };
}

/**
 * In front of the registration endpoint: the per-address rate limit (open registration), and the registration
 * request narrowed to what a self-registered client may be (public, code flow and refresh, no metadata of ours), read
 * once and replayed so oidc-provider still validates the rest itself. Successful registrations are audited, which
 * is also what the rate limit counts.
 */
export function registrationGuard(deps: {
  path: string;
  store: DynamicClientStore;
  config: Config['dynamicClients'];
  audit: (event: AuditEventInput) => Promise<void>;
}): Middleware {
  return onlyFor((ctx) => ctx.path === deps.path && ctx.method === 'POST' && deps.config.dcr !== 'off', async (ctx, next) => {
    if (deps.config.dcr === 'open') {
      const since = new Date(Date.now() - 3600_000);
      if ((await deps.store.registrationsSince(ctx.ip, since)) >= deps.config.dcrMaxPerHour) {
        ctx.status = 429;
        ctx.set('Retry-After', '3600');
        ctx.body = { error: 'rate_limited', error_description: `at most ${deps.config.dcrMaxPerHour} registrations per hour from one address` };
        return;
      }
    }
    if (ctx.is('application/json')) {
      const body = bufferedBody(ctx);
      let metadata: unknown;
      try {
        metadata = JSON.parse(body.toString('utf8'));
      } catch {
        metadata = undefined;
      }
      if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_client_metadata', error_description: 'the registration must be a JSON object' };
        return;
      }
      const narrowed = narrowRegistration(metadata as Record<string, unknown>);
      if (typeof narrowed === 'string') {
        ctx.status = 400;
        ctx.body = { error: 'invalid_client_metadata', error_description: narrowed };
        return;
      }
      replaceBody(ctx, Buffer.from(JSON.stringify(narrowed)));
    }
    await next();
    if (ctx.status === 201) {
      const clientId = (ctx.body as { client_id?: string } | undefined)?.client_id;
      await deps.audit({
        action: 'client.registered',
        outcome: 'success',
        actor: { kind: 'agent', id: clientId },
        agentId: clientId,
        clientId,
        ...requestOrigin(ctx),
        details: { origin: 'dcr', redirect_uris: (ctx.body as { redirect_uris?: unknown }).redirect_uris },
      });
    }
  });
}

/** A registration request as a self-registered client may make it, or why it may not. */
export function narrowRegistration(metadata: Record<string, unknown>): Record<string, unknown> | string {
  const method = metadata.token_endpoint_auth_method ?? 'none';
  if (method !== 'none') return 'self-registered clients are public: token_endpoint_auth_method must be none';
  const grants = metadata.grant_types ?? ['authorization_code', 'refresh_token'];
  if (!Array.isArray(grants) || grants.some((grant) => !DCR_GRANTS.includes(grant as string))) {
    return `self-registered clients may use only ${DCR_GRANTS.join(' and ')}`;
  }
  const narrowed = Object.fromEntries(Object.entries(metadata).filter(([key]) => !REGISTRY_ONLY.includes(key)));
  // `scope` is what the client hopes for; what it gets is what the human consents to, at resources open to it.
  delete narrowed.scope;
  return { ...narrowed, token_endpoint_auth_method: 'none', grant_types: grants, response_types: ['code'] };
}
