// The one decision point for every token: given the facts of a request (src/policy/facts.ts), answer an allowance
// (resource, audience, scopes, lifetime, approval, actor chain, and the trail of which limit narrowed what) or a
// refusal (a rule of src/policy/rules.ts, its OAuth error, and what to do next). Client credentials, the
// authorization and CIBA requests, the code, refresh and CIBA grants, token exchange, the consent page, standing
// approvals and the admin dry run all ask here; none of them repeats a rule. Pure: no I/O, no clock.
import type { Actor } from '../tokens/principals.js';
import type { ApprovalFacts, ClientFacts, RequestFacts, ResourceFacts, TrailEntry } from './facts.js';
import { PolicyRefusal, type RuleId } from './rules.js';

export type Allowance = {
  allowed: true;
  /** The resource server the token is for. */
  resource: string;
  /** The token's `aud`: the resource, or the next agent of a delegation. */
  audience: string;
  scopes: string[];
  /** Among `scopes`, those only a fresh approval gives (the token is short and yields no refresh token). */
  approvalOnly: string[];
  /** Seconds. */
  lifetime: number;
  approvalId?: string | undefined;
  actorChain: Actor[];
  trail: TrailEntry[];
};

export type Refusal = { allowed: false; rule: RuleId; error: string; description: string; trail: TrailEntry[] };

export type Decision = Allowance | Refusal;

const refuse = (rule: RuleId, description: string): never => {
  throw new PolicyRefusal(rule, description);
};

/**
 * The resource a request is about: the one it names, else the client's single allowed resource. `undefined` means a
 * sign-in without any resource (ID token and userinfo only), which only the authorization endpoint and the code flow
 * know; every other grant needs a resource.
 */
export function targetResource(
  client: ClientFacts,
  requested: string | undefined,
  grant: RequestFacts['grant'],
  asksResourceScopes: boolean,
  options: { defaultIsRemote?: boolean } = {},
): string | undefined {
  if (requested !== undefined) return requested;
  // A remote resource (served by another authorization server) is never a default: no token is issued here for it.
  if (!client.dynamic && client.resources.length === 1 && !options.defaultIsRemote) return client.resources[0];
  const signIn = (grant === 'authorization' || grant === 'authorization_code' || grant === 'refresh_token') && !asksResourceScopes;
  if (signIn) return undefined;
  return refuse(
    'resource_required',
    client.dynamic || client.resources.length > 1
      ? 'name the resource the token is for (resource=...): this client may get tokens for more than one'
      : 'this client has no allowed resource: an admin must give it one (resources) before it can get an access token',
  );
}

/**
 * The resource a token exchange is for: the one it names, else its `audience` when that names no agent, else the
 * presented token's own resource (or audience). An ID-JAG's resource, at another authorization server, must be named
 * (pass no subject).
 */
export function exchangeTarget(
  named: string | undefined,
  audienceAsResource: string | undefined,
  subject: { resource: string | null; audience: string | null } | undefined,
): string {
  return named ?? audienceAsResource ?? subject?.resource ?? subject?.audience ?? refuse('resource_required', 'name the resource the token is for (resource=...)');
}

/** The resource an ID-JAG is redeemed for: the one the request names, else the one resource the ID-JAG names. */
export function assertionTarget(named: string | undefined, asserted: string[] | undefined): string {
  return named ?? (asserted?.length === 1 ? asserted[0]! : refuse('resource_required', 'name the resource the token is for (resource=...): the ID-JAG names none or several'));
}

/**
 * Whether a human is asked every time rather than an earlier answer reused: for clients that arrived by themselves
 * (CIMD, DCR), and for public clients whose only redirects are loopback ones, where any local program could be
 * listening.
 */
export function consentEveryTime(client: { dynamic: boolean; publicClient: boolean; loopbackOnly: boolean }): boolean {
  return client.dynamic || (client.publicClient && client.loopbackOnly);
}

/** Whether this request asks for an ID-JAG for another authorization server (this server as the enterprise IdP). */
const issuingIdJag = (facts: RequestFacts) => facts.grant === 'token_exchange' && facts.exchange?.issue === 'id_jag';

/**
 * Whether the client may get tokens for this resource at all (its audiences; dynamic clients: the resource's flag),
 * and of which kind: a remote resource (served by another authorization server) gets only ID-JAGs from here, and
 * only a remote resource gets them; a human may still be asked to approve an agent there.
 */
function checkResource(facts: RequestFacts): ResourceFacts {
  const { client, resource } = facts;
  const identifier = resource?.identifier ?? facts.requestedResource;
  if (!resource) return refuse('unknown_resource', `${identifier ?? 'the resource'} is not a registered resource server`);
  const allowed = client.dynamic ? resource.allowDynamicClients : client.resources.includes(resource.identifier);
  if (!allowed) {
    return refuse(
      'resource_not_allowed',
      client.dynamic
        ? `${resource.identifier} does not accept clients that registered themselves`
        : `${resource.identifier} is not among the allowed resources of ${client.kind} ${client.id}`,
    );
  }
  const remote = resource.authorizationServer;
  if (remote && !issuingIdJag(facts) && !asking(facts.grant)) {
    refuse('remote_resource', `${resource.identifier} is served by the authorization server ${remote}: ask for an ID-JAG for it (token exchange with requested_token_type=urn:ietf:params:oauth:token-type:id-jag and audience=${remote})`);
  }
  if (!remote && issuingIdJag(facts)) {
    refuse('remote_resource', `${resource.identifier} is served by this authorization server: ask for an access token, not an ID-JAG`);
  }
  return resource;
}

/**
 * Checks of an ID-JAG redemption that come before scopes: a confidential agent the assertion was issued for and its
 * issuer may serve, a subject linked to a human here, a resource the assertion names and its issuer may grant.
 */
function checkAssertion(facts: RequestFacts): void {
  const { client } = facts;
  const assertion = facts.assertion!;
  if (client.publicClient) refuse('confidential_client_required', `${client.id} is a public client: an ID-JAG is redeemed only by a client that authenticates`);
  if (assertion.clientId !== client.id) refuse('assertion_client_mismatch', `the ID-JAG was issued for client ${assertion.clientId}, not for ${client.id}`);
  if (assertion.allowedClients.length > 0 && !assertion.allowedClients.includes(client.id)) {
    refuse('assertion_client_mismatch', `the issuer ${assertion.issuer} is not trusted for client ${client.id}`);
  }
  if (!facts.human) refuse('subject_unknown', `the ID-JAG's subject at ${assertion.issuer} is linked to no user here: an admin links it (external_identities)`);
}

function checkAssertionResource(facts: RequestFacts, resource: ResourceFacts): void {
  const assertion = facts.assertion!;
  if (assertion.resources && !assertion.resources.includes(resource.identifier)) {
    refuse('assertion_resource_mismatch', `the ID-JAG is for ${assertion.resources.join(', ')}, not ${resource.identifier}`);
  }
  if (assertion.allowedResources.length > 0 && !assertion.allowedResources.includes(resource.identifier)) {
    refuse('assertion_resource_mismatch', `the issuer ${assertion.issuer} may not grant access to ${resource.identifier}`);
  }
}

type Limit = { rule: RuleId; limit: string; allows: (scope: string) => boolean; why: (scope: string) => string };

/**
 * Narrows `candidates` by each limit in turn, writing what each removed to the trail; a requested scope a limit
 * removes is refused with that limit's rule (never silently dropped).
 */
function narrow(candidates: string[], requested: string[] | undefined, limits: Limit[], trail: TrailEntry[]): string[] {
  let remaining = candidates;
  for (const limit of limits) {
    const removed = remaining.filter((scope) => !limit.allows(scope));
    if (removed.length > 0) {
      trail.push({ limit: limit.limit, detail: limit.why(removed[0]!), removed });
      const refused = requested?.find((scope) => removed.includes(scope));
      if (refused !== undefined) refuse(limit.rule, limit.why(refused));
      remaining = remaining.filter((scope) => limit.allows(scope));
    }
  }
  return remaining;
}

/** A question to a human rather than a grant: what may be asked, not yet what was approved. */
const asking = (grant: RequestFacts['grant']) => grant === 'authorization' || grant === 'backchannel';

/** The newest standing approval that covers every requested scope, else the newest. */
function chooseApproval(approvals: ApprovalFacts[] | undefined, requested: string[] | undefined): ApprovalFacts | undefined {
  if (!approvals || approvals.length === 0) return undefined;
  return (requested && approvals.find((a) => requested.every((scope) => a.scopes.includes(scope)))) || approvals[0];
}

/** The actor chain of the token to issue, current actor first (token exchange). */
export function nextActorChain(subjectChain: Actor[], caller: string, maxDepth: number): Actor[] {
  if (subjectChain[0]?.sub === caller) return subjectChain;
  if (subjectChain.some((actor) => actor.sub === caller)) {
    refuse('delegation_cycle', `agent ${caller} already acts in this token's delegation chain; a chain cannot loop back to it`);
  }
  const chain: Actor[] = [{ sub: caller, kind: 'agent' }, ...subjectChain];
  if (chain.filter((actor) => actor.kind === 'agent').length > maxDepth) {
    refuse('delegation_depth', `delegation chains are limited to ${maxDepth} agents; this exchange would make ${chain.length}`);
  }
  return chain;
}

/** Checks of a token exchange that come before scopes: who the subject is, whose token it is, the target. */
function checkExchange(facts: RequestFacts, resource: ResourceFacts): void {
  const x = facts.exchange!;
  const { subject } = x;
  if (subject.subjectKind !== 'human') {
    refuse('subject_not_human', "the subject_token must stand for a human; an agent's own token cannot be exchanged for delegated access");
  }
  if (subject.clientId !== facts.client.id && subject.audience !== facts.client.id) {
    refuse('subject_token_foreign', 'the subject_token was neither issued to this agent nor addressed to it');
  }
  if (subject.dpopJkt && subject.dpopJkt !== x.dpopJkt) {
    refuse('dpop_binding', 'the subject_token is DPoP-bound: send a DPoP proof signed with the key it is bound to');
  }
  if (x.actorTokenSubject && (x.actorTokenSubject.sub !== facts.client.id || x.actorTokenSubject.kind !== 'agent')) {
    refuse('actor_mismatch', "the actor_token must be this agent's own token (client credentials)");
  }
  if (x.issue === 'id_jag') {
    // The audience of an ID-JAG is the authorization server serving the resource, never an agent.
    if (x.requestedAudience !== resource.authorizationServer) {
      refuse('remote_resource', `an ID-JAG for ${resource.identifier} is addressed to its authorization server: audience=${resource.authorizationServer}`);
    }
  } else if (x.requestedAudience !== undefined && x.requestedAudience !== resource.identifier) {
    if (x.requestedAudience === facts.client.id) refuse('self_audience', 'an agent cannot delegate to itself');
    if (!x.nextAgent) refuse('unknown_audience', `${x.requestedAudience} is not an active agent`);
  }
  const subjectResource = subject.resource ?? subject.audience;
  if (subjectResource && subjectResource !== resource.identifier && subject.audience !== facts.client.id) {
    refuse('audience_widening', `the subject_token is for ${subjectResource}; an exchange cannot move it to another resource`);
  }
  if (subject.resource && subject.audience === facts.client.id && subject.resource !== resource.identifier) {
    refuse('audience_widening', `this delegation is for ${subject.resource} only`);
  }
  if (x.nextAgent && !x.nextAgent.resources.includes(resource.identifier)) {
    refuse('resource_not_allowed', `${resource.identifier} is not among the allowed resources of agent ${x.nextAgent.id}`);
  }
}

function decideOrThrow(facts: RequestFacts, trail: TrailEntry[] = []): Allowance {
  const { client, grant } = facts;
  if (!client.active) refuse('client_suspended', `${client.kind} ${client.id} is suspended`);
  if ((grant === 'token_exchange' || grant === 'ciba' || grant === 'backchannel' || grant === 'id_jag') && client.kind !== 'agent') {
    refuse('not_an_agent', {
      token_exchange: 'token exchange is for registered agents; this client is not one',
      id_jag: "redeeming an ID-JAG is for registered agents: the human's approval it stands for is an approval of an agent",
    }[grant as string] ?? 'backchannel approval requests are for registered agents');
  }
  if (grant === 'id_jag') checkAssertion(facts);
  if (grant === 'client_credentials' && client.dynamic) {
    refuse('dynamic_client_needs_human', 'this client registered itself: it acts only for a human who consents (authorization code), never on its own');
  }
  const resource = checkResource(facts);
  if (facts.human && !facts.human.active) refuse('user_inactive', `the user ${facts.human.id} is disabled`);
  if (grant === 'token_exchange') checkExchange(facts, resource);
  if (grant === 'id_jag') checkAssertionResource(facts, resource);

  const requested = facts.requestedScopes ? [...new Set(facts.requestedScopes)] : undefined;
  const nextAgent = facts.exchange?.nextAgent;
  const agents = nextAgent ? [client, nextAgent] : [client];

  // Standing approvals: token exchange reads them directly; the code, refresh and CIBA grants read the Grant the
  // human's consent created (`consented`), whose approval was checked when it was saved and is revoked with it.
  let approvalId: string | undefined;
  const approvalSets: Array<{ agent: string; scopes: string[] }> = [];
  if (grant === 'token_exchange') {
    const sets = [facts.approvals, facts.exchange?.nextAgentApprovals];
    agents.forEach((agent, i) => {
      const approval = chooseApproval(sets[i], requested);
      if (!approval) {
        refuse('no_approval', `human ${facts.human?.id ?? facts.exchange!.subject.subject} has not approved agent ${agent.id} at ${resource.identifier}: ask them through backchannel authentication (CIBA) or the consent flow`);
      }
      if (i === 0) approvalId = approval!.id;
      approvalSets.push({ agent: agent.id, scopes: approval!.scopes });
      trail.push({ limit: 'approval', detail: `approval ${approval!.id} of agent ${agent.id}` });
    });
  } else if (!asking(grant) && grant !== 'client_credentials' && client.kind === 'agent') {
    approvalId = facts.approvals?.[0]?.id;
    if (approvalId) trail.push({ limit: 'approval', detail: `approval ${approvalId}` });
  }

  const fresh = new Set(grant === 'authorization_code' || grant === 'ciba' ? (facts.fresh ?? []) : []);
  const limits: Limit[] = [
    { rule: 'scope_not_defined', limit: 'resource', allows: (s) => resource.scopes.includes(s), why: (s) => `${resource.identifier} defines no scope ${s}` },
  ];
  if (!client.dynamic) {
    for (const agent of agents) {
      limits.push({ rule: 'scope_outside_ceiling', limit: `ceiling:${agent.id}`, allows: (s) => agent.scopes.includes(s), why: (s) => `${s} is outside the scope ceiling of ${agent.kind} ${agent.id}` });
    }
  }
  // What a client may ask a human for includes approval-only scopes (the human answers for one token); everything
  // else gets them only from a fresh approval.
  if (!asking(grant)) {
    limits.push({
      rule: 'approval_required_each_time',
      limit: 'approval_only',
      allows: (s) => !resource.approvalOnly.includes(s) || fresh.has(s),
      why: (s) => `${s} needs a fresh approval from the human for each token (ask through CIBA); ${grant === 'refresh_token' ? 'a refresh never carries it' : grant === 'id_jag' ? 'an ID-JAG never carries it' : 'a standing approval never covers it'}`,
    });
  }

  const idToken = facts.exchange?.issue === 'id_jag';
  if (grant === 'token_exchange') {
    const subject = facts.exchange!.subject;
    // An ID token (the subject of an ID-JAG request) says who the human is and carries no scopes to narrow from.
    if (!idToken) limits.push({ rule: 'scope_not_in_subject', limit: 'subject_token', allows: (s) => subject.scopes.includes(s), why: (s) => `the subject token does not carry ${s}; an exchange can only narrow` });
    for (const set of approvalSets) {
      limits.push({ rule: 'scope_not_approved', limit: `approval:${set.agent}`, allows: (s) => set.scopes.includes(s), why: (s) => `the human has not approved ${s} at ${resource.identifier} for agent ${set.agent}` });
    }
  } else if (grant === 'id_jag') {
    // The redeemed ID-JAG stands for the human's approval: its scopes, when it names any, bound the token.
    const assertion = facts.assertion!;
    if (assertion.scopes) {
      const granted = new Set(assertion.scopes);
      limits.push({ rule: 'scope_not_approved', limit: `id_jag:${assertion.issuer}`, allows: (s) => granted.has(s), why: (s) => `the ID-JAG from ${assertion.issuer} does not grant ${s}` });
    }
  } else if (!asking(grant) && grant !== 'client_credentials') {
    const consented = new Set(facts.consented ?? []);
    limits.push({ rule: 'scope_not_approved', limit: 'consent', allows: (s) => consented.has(s) || fresh.has(s), why: (s) => `the human has not approved ${s} at ${resource.identifier} for ${client.id}` });
  }
  const base = grant === 'token_exchange' && !idToken ? facts.exchange!.subject.scopes.filter((s) => resource.scopes.includes(s) || requested?.includes(s)) : resource.scopes;
  const candidates = [...new Set([...base, ...(requested ?? [])])];
  const allowance = narrow(candidates, requested, limits, trail);
  const scopes = requested ?? allowance;
  if (scopes.length === 0) {
    refuse('no_scope_allowed', `nothing at ${resource.identifier} is allowed for ${client.id} by every limit that applies (see the decision trail)`);
  }
  const approvalOnly = scopes.filter((s) => resource.approvalOnly.includes(s));

  const lifetime = tokenLifetime(facts, resource, agents, approvalOnly.length > 0, trail);
  const actorChain = grant === 'token_exchange'
    ? nextActorChain(facts.exchange!.subject.actorChain, client.id, facts.limits.maxDelegationDepth)
    : facts.human && client.kind === 'agent' ? [{ sub: client.id, kind: 'agent' as const }] : [];
  return {
    allowed: true,
    resource: resource.identifier,
    audience: idToken ? resource.authorizationServer! : (nextAgent?.id ?? resource.identifier),
    scopes,
    approvalOnly,
    lifetime,
    approvalId,
    actorChain,
    trail,
  };
}

/** Seconds: the smallest of what was asked and every limit that applies, each noted in the trail when it bites. */
function tokenLifetime(facts: RequestFacts, resource: ResourceFacts, agents: ClientFacts[], stepUp: boolean, trail: TrailEntry[]): number {
  const caps: Array<[string, number | undefined]> = [
    ['resource_ttl', resource.accessTokenTtl],
    ...agents.map((agent): [string, number | undefined] => [`max_token_ttl:${agent.id}`, agent.maxTokenTtl]),
    ['requested_lifetime', facts.requestedLifetime],
    ['step_up_ttl', stepUp ? facts.limits.stepUpTtl : undefined],
    ['subject_remaining', facts.exchange ? (facts.exchange.subject.expiresAt - facts.now) / 1000 : undefined],
  ];
  let lifetime = Infinity;
  let by = '';
  for (const [limit, seconds] of caps) {
    if (seconds !== undefined && seconds < lifetime) {
      lifetime = seconds;
      by = limit;
    }
  }
  if (lifetime < 1) refuse('subject_expired', 'the subject token has expired');
  trail.push({ limit: 'lifetime', detail: `limited by ${by}`, seconds: Math.floor(lifetime) });
  return Math.floor(lifetime);
}

/** The decision for a request: an allowance, or the refusal of the first rule that refused. */
export function decide(facts: RequestFacts): Decision {
  const trail: TrailEntry[] = [];
  try {
    return decideOrThrow(facts, trail);
  } catch (error) {
    if (!(error instanceof PolicyRefusal)) throw error;
    return { allowed: false, rule: error.rule, error: error.code, description: error.message, trail };
  }
}

/** `decide`, throwing the refusal: for grants, whose edge maps it to the OAuth error. */
export function allowanceOrThrow(facts: RequestFacts): Allowance {
  return decideOrThrow(facts);
}

/**
 * What a human may be asked to approve, and may keep standing: for each resource, the scopes the client may ever
 * get there (registered, within its ceiling, resource allowed), and which of them are approval-only (never part of a
 * standing approval). Problems are listed per input, for the admin API's field errors.
 */
export function standingApprovalProblems(
  client: ClientFacts,
  resources: Array<{ identifier: string; facts: ResourceFacts | undefined }>,
  scopes: string[],
): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  const defined = new Set<string>();
  const approvalOnly = new Set<string>();
  resources.forEach(({ identifier, facts }, i) => {
    if (!facts) return problems.push({ path: `resources.${i}`, message: `${identifier} is not a registered resource server` });
    facts.scopes.forEach((s) => defined.add(s));
    facts.approvalOnly.forEach((s) => approvalOnly.add(s));
    const allowed = client.dynamic ? facts.allowDynamicClients : client.resources.includes(identifier);
    if (!allowed) problems.push({ path: `resources.${i}`, message: `${identifier} is not among the agent's audiences` });
    return undefined;
  });
  scopes.forEach((scope, i) => {
    if (!defined.has(scope)) problems.push({ path: `scopes.${i}`, message: `${scope} is not defined by the approved resources` });
    else if (!client.dynamic && !client.scopes.includes(scope)) problems.push({ path: `scopes.${i}`, message: `${scope} is outside the agent's scope ceiling` });
    else if (approvalOnly.has(scope)) problems.push({ path: `scopes.${i}`, message: `${scope} requires a fresh approval for each token and is never part of a standing approval` });
  });
  return problems;
}

/**
 * Whether a client's ceilings can be kept (admin API, CLI; apps and agents alike): every allowed resource is
 * registered and every ceiling scope is defined by one of them. `field` names the resource list in the caller's
 * input (agents call it `audiences`); scopes in `exempt` (OpenID Connect's) belong to no resource.
 */
export function ceilingProblems(
  resources: Array<{ identifier: string; facts: ResourceFacts | undefined }>,
  scopes: string[],
  options: { field: string; exempt?: readonly string[] },
): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  const defined = new Set<string>(options.exempt ?? []);
  resources.forEach(({ identifier, facts }, i) => {
    if (!facts) problems.push({ path: `${options.field}.${i}`, message: `${identifier} is not a registered resource server` });
    else facts.scopes.forEach((s) => defined.add(s));
  });
  scopes.forEach((scope, i) => {
    if (!defined.has(scope)) problems.push({ path: `scopes.${i}`, message: `${scope} is not defined by any of the ${options.field} (${resources.map((r) => r.identifier).join(', ') || 'none named'})` });
  });
  return problems;
}
