// What kind of principal a token's subject or actor is, and how a token says it. The claim follows
// draft-mcguinness-oauth-actor-profile / draft-mora-oauth-entity-profiles (`sub_profile`, also inside `act`), so a
// resource server tells agents from humans from the token alone.
export type PrincipalKind = 'human' | 'agent' | 'app';

export const SUB_PROFILE: Record<PrincipalKind, string> = {
  human: 'user',
  agent: 'ai_agent',
  app: 'service',
};

/** One link of a delegation chain, current actor first: what `act` nests and what records store. */
export type Actor = { sub: string; kind: PrincipalKind };

/** The RFC 8693 `act` claim for a chain (current actor outermost), or undefined for no actor. */
export function actClaim(chain: Actor[]): Record<string, unknown> | undefined {
  return chain.reduceRight<Record<string, unknown> | undefined>(
    (inner, actor) => ({ sub: actor.sub, sub_profile: SUB_PROFILE[actor.kind], ...(inner ? { act: inner } : {}) }),
    undefined,
  );
}
