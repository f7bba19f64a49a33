// What a token being issued carries besides oidc-provider's own fields: the delegation chain, the approval it was
// issued under, the token it was derived from and the resource it is meant for. Grants that know these (token
// exchange) put them on the request; the claims (`act`) and the issued-token record read them from the same place.
import type { Actor, PrincipalKind } from './principals.js';

export type TokenContext = {
  /** Current actor first; empty when the subject acts for itself. */
  actorChain: Actor[];
  approvalId?: string | undefined;
  /** The jti of the token this one was derived from (the subject token of an exchange). */
  parentJti?: string | undefined;
  /** The resource server the token is meant for when its audience is the next agent of a delegation. */
  resource?: string | undefined;
  /** The policy's trail for this token (src/policy/decide.ts): kept with its record. */
  decision?: unknown;
};

type RequestState = { tokenContext?: TokenContext } | undefined;

export function setTokenContext(state: object, context: TokenContext): void {
  (state as { tokenContext?: TokenContext }).tokenContext = context;
}

/**
 * The context of a token issued in this request. Without one set by the grant, an agent that obtained a token for a
 * human (the code flow run by an agent) is that token's only actor.
 */
export function tokenContextFor(state: unknown, token: { accountId?: unknown; clientId?: unknown }, clientKind: PrincipalKind | undefined): TokenContext {
  const set = (state as RequestState)?.tokenContext;
  if (set) return set;
  if (token.accountId && clientKind === 'agent' && typeof token.clientId === 'string') {
    return { actorChain: [{ sub: token.clientId, kind: 'agent' }] };
  }
  return { actorChain: [] };
}
