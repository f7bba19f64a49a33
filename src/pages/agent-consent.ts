// Consent when the client is an AI agent: the human is told plainly that an agent (not an app they use) asks to act
// for them: who it is, who owns it, what it may do where, and for how long. They may approve every scope, fewer, a
// shorter duration, or deny. Approving writes two records that must agree, in one transaction: the oidc-provider
// Grant (what the code flow and refresh tokens rely on) and the stored approval (what token exchange and /approvals
// rely on). Consenting again extends the human's standing approval for the agent (and its Grant) instead of adding a
// second one; revoking the approval destroys the Grant with it (src/revocation/revocation-service.ts).
import type Provider from 'oidc-provider';
import type { AgentStore } from '../agents/agent-store.js';
import type { ApprovalStore } from '../approvals/approval-store.js';
import type { AgentBlockStore } from '../approvals/agent-block-store.js';
import type { InTransaction } from '../db/transaction.js';
import { toResourceFacts, type ResourceStore } from '../resources/resource-store.js';
import { InvalidInputError } from '../errors.js';
import { clientTraits } from '../clients/client-traits.js';
import type { ConsentRequest } from './consent.js';
import type { FormFields } from './form-body.js';
import { interactionGone, PageError } from './page-error.js';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export type AgentDescription = {
  id: string;
  name: string;
  description: string;
  ownerName: string;
  /** Presentation of clients that arrived by themselves (src/clients/client-traits.ts): shown plainly on the page. */
  dynamic: boolean;
  /** The host that describes the client (its metadata document's host), else undefined. */
  clientHost: string | undefined;
  /** Where the browser goes back to after consent. */
  redirectHosts: string[];
  /** Every redirect is a loopback one: any program on the human's machine could be listening there. */
  loopbackOnly: boolean;
};
export type DurationChoice = { seconds: number; label: string; selected: boolean };
export type AgentConsentChoice = { granted: Map<string, string[]>; rejected: Map<string, string[]>; seconds: number };

export type AgentConsentDependencies = {
  /** The transaction the Grant and the approval commit in (src/db/transaction.ts). */
  inTransaction: InTransaction;
  agents: AgentStore;
  approvals: ApprovalStore;
  blocks: AgentBlockStore;
  /** How long a delegation lasts unless the human shortens it. */
  defaultDays: number;
  resources: ResourceStore;
};

/** A scope line of the agent consent: `stepUp` scopes (requires_approval) are never part of a standing delegation. */
export type AgentConsentRequest = Omit<ConsentRequest, 'resources'> & {
  /** `authorizationServer`: a remote resource, which the agent reaches through that server with this approval. */
  resources: Array<{ identifier: string; name: string; authorizationServer: string | null; scopes: Array<{ name: string; description: string; stepUp: boolean }> }>;
};

const HOUR = 3600;
const DAY = 86_400;

/** The field name of one scope checkbox: positions, not names, so no scope name needs escaping in a form field. */
export const scopeField = (resourceIndex: number, scopeIndex: number) => `scope.${resourceIndex}.${scopeIndex}`;

export function createAgentConsent(deps: AgentConsentDependencies) {
  /** The agent behind a client id, with its owner's name; the consent page is about this, so it must exist. */
  async function describeAgent(agentId: string): Promise<AgentDescription> {
    const agent = await deps.agents.describe(agentId);
    if (!agent) throw interactionGone();
    const traits = clientTraits({ redirect_uris: agent.redirectUris, agent_origin: agent.origin });
    const hostOf = (uri: string) => URL.parse(uri)?.host;
    return {
      id: agent.id,
      name: agent.name,
      description: agent.description,
      ownerName: agent.ownerName,
      dynamic: traits.dynamic,
      clientHost: agent.origin === 'cimd' ? hostOf(agent.id) : undefined,
      redirectHosts: [...new Set(agent.redirectUris.map(hostOf).filter((host): host is string => Boolean(host)))],
      loopbackOnly: traits.loopbackOnly,
    };
  }

  /** The human may shorten the delegation, never lengthen it past the configured default. */
  function durations(): DurationChoice[] {
    const longest = deps.defaultDays * DAY;
    const options = [HOUR, DAY, 7 * DAY, 30 * DAY, longest].filter((s) => s <= longest);
    return [...new Set(options)].sort((a, b) => a - b).map((seconds) => ({ seconds, label: describeDuration(seconds), selected: seconds === longest }));
  }

  /**
   * The authorization endpoint already refused anything the policy does not let this agent ask for
   * (src/oauth/provider.ts asks src/policy/decide.ts); the page marks the approval-only scopes among what was asked,
   * which are offered unticked and for this authorization only: the Grant holds them until the one token they are
   * for is issued, the standing approval never does.
   */
  async function withApprovalOnly(request: ConsentRequest): Promise<AgentConsentRequest> {
    const resources = await Promise.all(
      request.resources.map(async (r) => {
        const resource = await deps.resources.findByIdentifier(r.identifier);
        const approvalOnly = new Set(resource ? toResourceFacts(resource).approvalOnly : []);
        return { ...r, authorizationServer: resource?.authorizationServer ?? null, scopes: r.scopes.map((s) => ({ ...s, stepUp: approvalOnly.has(s.name) })) };
      }),
    );
    return { ...request, resources };
  }

  /** What the human ticked, checked against what was asked: anything else in the form is ignored. */
  function readChoice(form: FormFields, request: AgentConsentRequest): AgentConsentChoice {
    const granted = new Map<string, string[]>();
    const rejected = new Map<string, string[]>();
    let offered = 0;
    request.resources.forEach((resource, ri) => {
      resource.scopes.forEach((scope, si) => {
        offered += 1;
        const list = form.get(scopeField(ri, si)) === 'on' ? granted : rejected;
        list.set(resource.identifier, [...(list.get(resource.identifier) ?? []), scope.name]);
      });
    });
    if (offered > 0 && granted.size === 0) {
      throw new PageError(400, 'Choose at least one permission', 'Go back and tick what the agent may do, or choose Deny to refuse it everything.');
    }
    const seconds = Number(form.get('duration'));
    if (!durations().some((d) => d.seconds === seconds)) {
      throw new PageError(400, 'Choose how long the agent may act for you', 'Go back and pick one of the durations offered.');
    }
    return { granted, rejected, seconds };
  }

  /**
   * Saves the Grant (what was granted, what was refused, so oidc-provider does not ask again for either) and the
   * approval it stands for, in one transaction: the human's standing approval for this agent (and its Grant) is
   * extended when there is one, created otherwise.
   */
  async function save(provider: Provider, interaction: Interaction, request: AgentConsentRequest, choice: AgentConsentChoice) {
    const accountId = interaction.session?.accountId;
    const clientId = typeof interaction.params.client_id === 'string' ? interaction.params.client_id : undefined;
    if (!accountId || !clientId) throw interactionGone();

    const standing = await deps.approvals.extendable(accountId, clientId);
    const mine = (grant: InstanceType<Provider['Grant']> | undefined) => (grant && grant.accountId === accountId && grant.clientId === clientId ? grant : undefined);
    const grant =
      mine(interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined) ??
      mine(standing?.grantId ? await provider.Grant.find(standing.grantId) : undefined) ??
      new provider.Grant({ accountId, clientId });
    const details = interaction.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
    if (details.missingOIDCScope?.length) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims?.length) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [resource, scopes] of choice.granted) grant.addResourceScope(resource, scopes.join(' '));
    for (const [resource, scopes] of choice.rejected) grant.rejectResourceScope(resource, scopes.join(' '));
    // The Grant ends with the delegation (never before a standing approval it now also stands for): after that the
    // code flow asks the human again. `exp` as well: a Grant found in storage keeps its old `exp` otherwise.
    const until = Math.max(Date.now() + choice.seconds * 1000, standing && standing.grantId === grant.jti ? standing.expiresAt.getTime() : 0);
    const seconds = Math.ceil((until - Date.now()) / 1000);
    Object.assign(grant, { expiresIn: seconds, exp: Math.floor(until / 1000) });

    const stepUp = new Set(request.resources.flatMap((r) => r.scopes.filter((s) => s.stepUp).map((s) => s.name)));
    const resources = Object.keys(grant.resources ?? {});
    // The standing approval holds what may be reused; step-up scopes are for the one token of this authorization.
    const scopes = [...new Set(resources.flatMap((r) => (grant.getResourceScope(r) ?? '').split(' ').filter((s) => s && !stepUp.has(s))))];
    const expiresAt = new Date(until);
    try {
      return await deps.inTransaction(async (tx) => {
        const grantId = await grant.save();
        if (scopes.length === 0) return { grantId, approvalId: undefined };
        const current = standing && standing.grantId === grantId ? standing : await deps.approvals.forGrant(grantId);
        const approval = current
          ? await deps.approvals.update(current.id, { scopes, resources, expiresAt }, tx)
          : await deps.approvals.create({ userId: accountId, agentId: clientId, scopes, resources, expiresAt, grantedVia: 'consent', grantId }, tx);
        return { grantId, approvalId: approval.id };
      });
    } catch (error) {
      if (error instanceof InvalidInputError) {
        throw new PageError(400, 'This request cannot be approved', `${error.details.map((d) => d.message).join('; ') || error.message}. Go back to the agent and start again.`);
      }
      throw error;
    }
  }

  return {
    describeAgent,
    durations,
    withApprovalOnly,
    readChoice,
    save,
    isBlocked: (userId: string, agentId: string) => deps.blocks.isBlocked(userId, agentId),
  };
}

export type AgentConsent = ReturnType<typeof createAgentConsent>;

export function describeDuration(seconds: number): string {
  if (seconds % DAY === 0) return seconds === DAY ? '1 day' : `${seconds / DAY} days`;
  if (seconds % HOUR === 0) return seconds === HOUR ? '1 hour' : `${seconds / HOUR} hours`;
  return `${Math.round(seconds / 60)} minutes`;
}
