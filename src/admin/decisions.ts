// The admin dry run of the policy ("why can't this agent get files:write for alice?"): gathers the facts a real
// request would have, from the same stores, and asks the same decision function. Nothing is issued or recorded.
// A request's own facts that only a real request has are assumed at their most permissive and said so in the
// trail: for an exchange, a subject token carrying every requested scope; for the code, refresh and CIBA grants, a
// consent equal to the human's standing approvals.
import type { AgentStore } from '../agents/agent-store.js';
import type { ApprovalStore } from '../approvals/approval-store.js';
import type { ClientStore } from '../clients/client-store.js';
import { NotFoundError } from '../errors.js';
import type { UserStore } from '../humans/user-store.js';
import { clientFacts } from '../oauth/request-facts.js';
import { decide, targetResource, type Decision } from '../policy/decide.js';
import type { ClientFacts, GrantKind, RequestFacts } from '../policy/facts.js';
import { PolicyRefusal } from '../policy/rules.js';
import { toResourceFacts, type ResourceStore } from '../resources/resource-store.js';
import { words } from '../text/words.js';

const GRANTS: Record<string, GrantKind> = {
  client_credentials: 'client_credentials',
  authorization_code: 'authorization_code',
  refresh_token: 'refresh_token',
  'urn:openid:params:grant-type:ciba': 'ciba',
  'urn:ietf:params:oauth:grant-type:token-exchange': 'token_exchange',
};

export type DryRunRequest = { clientId: string; userId?: string | undefined; resource?: string | undefined; scope?: string | undefined; grantType?: string | undefined };

export function createDecisionDryRun(deps: {
  clients: ClientStore;
  agents: AgentStore;
  users: UserStore;
  resources: ResourceStore;
  approvals: ApprovalStore;
  limits: RequestFacts['limits'];
}) {
  /** The client as the policy sees it; a suspended agent is a client that is not active (the registry hides it). */
  async function client(id: string): Promise<ClientFacts> {
    const metadata = await deps.clients.findMetadata(id);
    if (metadata) return clientFacts({ ...metadata, clientId: id });
    const agent = await deps.agents.get(id).catch(() => undefined);
    if (!agent) throw new NotFoundError(`no client ${id}`);
    return { id, kind: 'agent', active: agent.status === 'active', scopes: agent.scopes, resources: agent.audiences, maxTokenTtl: agent.maxTokenTtl };
  }

  return async function dryRun(request: DryRunRequest, now = Date.now()): Promise<Decision> {
    const facts = await client(request.clientId);
    const grant = GRANTS[request.grantType ?? (request.userId ? 'urn:ietf:params:oauth:grant-type:token-exchange' : 'client_credentials')]!;
    const user = request.userId ? await deps.users.findById(request.userId) : undefined;
    if (request.userId && !user) throw new NotFoundError(`no user ${request.userId}`);
    const requested = request.scope === undefined ? undefined : words(request.scope);
    let identifier: string | undefined;
    try {
      identifier = targetResource(facts, request.resource, grant, true);
    } catch (error) {
      if (error instanceof PolicyRefusal) return { allowed: false, rule: error.rule, error: error.code, description: error.message, trail: [] };
      throw error;
    }
    const [resource, approvals] = await Promise.all([
      deps.resources.findByIdentifier(identifier!),
      user ? deps.approvals.standing(user.id, facts.id, identifier!, new Date(now)) : [],
    ]);
    const standing = approvals.map((a) => ({ id: a.id, agentId: a.agentId, scopes: a.scopes, resources: a.resources, expiresAt: a.expiresAt.getTime() }));
    const human = user ? { id: user.id, active: user.status === 'active' } : undefined;
    const scopesApproved = [...new Set(standing.flatMap((a) => a.scopes))];
    return decide({
      grant,
      now,
      client: facts,
      requestedResource: identifier,
      resource: resource ? toResourceFacts(resource) : undefined,
      requestedScopes: requested && requested.length > 0 ? requested : undefined,
      human,
      approvals: standing,
      consented: grant === 'token_exchange' || grant === 'client_credentials' ? undefined : scopesApproved,
      exchange: grant === 'token_exchange' && user
        ? {
            subject: {
              jti: 'dry-run', subject: user.id, subjectKind: 'human', clientId: facts.id, scopes: requested ?? (resource ? toResourceFacts(resource).scopes : []),
              audience: identifier!, resource: identifier!, actorChain: [], dpopJkt: null, expiresAt: now + 3_600_000,
            },
          }
        : undefined,
      limits: deps.limits,
    });
  };
}

export type DecisionDryRun = ReturnType<typeof createDecisionDryRun>;
