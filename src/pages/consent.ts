// Consent: what a human is asked to allow a client, in words from the resource registry, and the Grant that records
// the answer. Kept apart from the routes because it grows: agent clients get a consent of their own (who the agent
// is, who owns it, what it may do on whose behalf).
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { ResourceStore } from '../resources/resource-store.js';
import { interactionGone } from './page-error.js';
import { words } from '../text/words.js';

export type ScopeLine = { name: string; description: string };

export type ConsentRequest = {
  clientId: string;
  clientName: string;
  /** Whether the client is an ordinary app or an AI agent (agents get their own consent later). */
  clientKind: 'app' | 'agent';
  /** OpenID Connect scopes: what the client learns about the human, and whether it keeps access. */
  identity: ScopeLine[];
  /** Individual claims asked for with the `claims` parameter. */
  claims: string[];
  /** The resource servers the client will call, with the scopes it asks for at each. */
  resources: Array<{ identifier: string; name: string; scopes: ScopeLine[] }>;
};

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

const IDENTITY_SCOPES: Record<string, string> = {
  openid: 'Know who you are (your account identifier)',
  profile: 'See your name and username',
  offline_access: 'Keep this access while you are not using the application, until you revoke it',
};

// What oidc-provider's consent prompt reports as not yet granted (lib/helpers/interaction_policy/prompts/consent.js).
const promptDetails = z.object({
  missingOIDCScope: z.array(z.string()).optional(),
  missingOIDCClaims: z.array(z.string()).optional(),
  missingResourceScopes: z.record(z.string(), z.array(z.string())).optional(),
});

const list = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : typeof value === 'string' ? [value] : [];

/** The client's display name and kind, from the client registry. */
export async function describeClient(provider: Provider, clientId: string): Promise<{ name: string; kind: 'app' | 'agent' }> {
  const client = await provider.Client.find(clientId);
  if (!client) throw interactionGone();
  const kind = (client as unknown as { principal_kind?: string }).principal_kind === 'agent' ? 'agent' : 'app';
  return { name: client.clientName ?? clientId, kind };
}

/**
 * Everything the request asks for (not only what is missing from an earlier grant): with `prompt=consent` the
 * human confirms the whole request, and the grant ends up holding all of it.
 */
export async function describeConsent(provider: Provider, resources: ResourceStore, interaction: Interaction): Promise<ConsentRequest> {
  const clientId = String(interaction.params.client_id ?? '');
  const client = await describeClient(provider, clientId);
  const requested = words(interaction.params.scope);
  const details = promptDetails.safeParse(interaction.prompt.details);

  const identity = requested
    .filter((scope) => scope in IDENTITY_SCOPES)
    .map((name) => ({ name, description: IDENTITY_SCOPES[name]! }));

  const indicators = [...new Set([...list(interaction.params.resource), ...Object.keys(details.data?.missingResourceScopes ?? {})])];
  const described = await Promise.all(
    indicators.map(async (identifier) => {
      const resource = await resources.findByIdentifier(identifier);
      // oidc-provider refuses unregistered resources before any prompt; one deleted since is simply not shown.
      if (!resource) return undefined;
      const scopes = resource.scopes
        .filter((scope) => requested.includes(scope.name) || details.data?.missingResourceScopes?.[identifier]?.includes(scope.name))
        .map((scope) => ({ name: scope.name, description: scope.description }));
      return { identifier, name: resource.name, scopes };
    }),
  );

  return {
    clientId,
    clientName: client.name,
    clientKind: client.kind,
    identity,
    claims: details.data?.missingOIDCClaims ?? [],
    resources: described.filter((r) => r !== undefined),
  };
}

/** Adds what the prompt found missing to the interaction's grant (or a new one) and saves it; returns its id. */
export async function saveConsentGrant(provider: Provider, interaction: Interaction): Promise<string> {
  const accountId = interaction.session?.accountId;
  const clientId = typeof interaction.params.client_id === 'string' ? interaction.params.client_id : undefined;
  if (!accountId || !clientId) throw interactionGone();

  const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
  const grant = existing && existing.accountId === accountId && existing.clientId === clientId ? existing : new provider.Grant({ accountId, clientId });

  const details = promptDetails.parse(interaction.prompt.details);
  if (details.missingOIDCScope?.length) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims?.length) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}
