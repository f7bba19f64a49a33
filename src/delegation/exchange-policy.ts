// The rules of delegation, as plain functions: who may act next in a chain, which scopes a token may carry and
// how long it may live. Token exchange (src/oauth/grants/token-exchange.ts) gathers the facts and asks these; they
// decide without I/O, so every rule is testable on its own (test/delegation/).
import type { Actor } from '../tokens/principals.js';

/** A refusal: the OAuth error code, a description that tells the agent what to do, and the rule that refused. */
export class ExchangeRefusal extends Error {
  override name = 'ExchangeRefusal';
  constructor(
    readonly code: 'invalid_request' | 'invalid_grant' | 'invalid_scope' | 'invalid_target' | 'unauthorized_client',
    readonly rule: string,
    description: string,
  ) {
    super(description);
  }
}

/**
 * The actor chain of the token to issue, current actor first. The caller re-exchanging a token it already acts in
 * keeps the chain as it is (no self-nesting); otherwise the caller becomes the new current actor. An agent appearing
 * twice would be a cycle; chains are bounded.
 */
export function nextActorChain(subjectChain: Actor[], caller: string, maxDepth: number): Actor[] {
  if (subjectChain[0]?.sub === caller) return subjectChain;
  if (subjectChain.some((actor) => actor.sub === caller)) {
    throw new ExchangeRefusal('invalid_grant', 'delegation_cycle', `agent ${caller} already acts in this token's delegation chain; a chain cannot loop back to it`);
  }
  const chain: Actor[] = [{ sub: caller, kind: 'agent' }, ...subjectChain];
  if (chain.filter((actor) => actor.kind === 'agent').length > maxDepth) {
    throw new ExchangeRefusal('invalid_grant', 'delegation_depth', `delegation chains are limited to ${maxDepth} agents; this exchange would make ${chain.length}`);
  }
  return chain;
}

export type ScopeFacts = {
  /** Scopes asked for; undefined means "everything allowed". */
  requested: string[] | undefined;
  /** Scopes of the subject token: a hop only narrows. */
  subject: string[];
  /** Ceilings of every agent that must hold the scope (the caller, and the next agent for a delegation). */
  ceilings: Array<{ agent: string; scopes: string[] }>;
  /** Scopes the human approved for each of those agents at the target resource. */
  approvals: Array<{ agent: string; scopes: string[] }>;
  /** Scopes the target resource defines, and which of them need a fresh approval every time. */
  resource: { identifier: string; scopes: string[]; requiresApproval: string[] };
};

/** The scopes the issued token carries: the requested ones if all are allowed, or the whole intersection. */
export function grantableScopes(facts: ScopeFacts): string[] {
  const allowedBy = (scope: string): string | undefined => {
    if (!facts.resource.scopes.includes(scope)) return `${facts.resource.identifier} defines no scope ${scope}`;
    if (!facts.subject.includes(scope)) return `the subject token does not carry ${scope}; an exchange can only narrow`;
    for (const ceiling of facts.ceilings) {
      if (!ceiling.scopes.includes(scope)) return `${scope} is outside the scope ceiling of agent ${ceiling.agent}`;
    }
    for (const approval of facts.approvals) {
      if (!approval.scopes.includes(scope)) return `the human has not approved ${scope} at ${facts.resource.identifier} for agent ${approval.agent}`;
    }
    if (facts.resource.requiresApproval.includes(scope)) {
      return `${scope} needs a fresh approval from the human for each token (ask through CIBA); a standing approval never covers it`;
    }
    return undefined;
  };

  if (facts.requested !== undefined) {
    for (const scope of facts.requested) {
      const problem = allowedBy(scope);
      if (problem) throw new ExchangeRefusal('invalid_scope', 'scope_not_allowed', problem);
    }
    return [...new Set(facts.requested)];
  }
  const all = facts.subject.filter((scope) => allowedBy(scope) === undefined);
  if (all.length === 0) {
    throw new ExchangeRefusal('invalid_scope', 'no_common_scope', `no scope is allowed by the subject token, the agents' ceilings and the human's approval at ${facts.resource.identifier}`);
  }
  return [...new Set(all)];
}

/** Seconds: the smallest of what was asked, every agent's maximum, the resource's lifetime and the subject's remaining life. */
export function tokenLifetime(limits: { requested?: number | undefined; agentMaximums: number[]; resourceTtl: number; subjectRemaining: number }): number {
  const lifetime = Math.min(limits.requested ?? Infinity, ...limits.agentMaximums, limits.resourceTtl, limits.subjectRemaining);
  if (lifetime < 1) throw new ExchangeRefusal('invalid_grant', 'subject_expired', 'the subject token has expired');
  return Math.floor(lifetime);
}
