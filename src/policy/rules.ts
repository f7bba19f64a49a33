// The catalogue of policy rules: every refusal any grant, page or dry run can give names one of these ids, with the
// OAuth error it maps to and what it means. README.md lists the same table (a test keeps the two equal), so an
// operator reading an audit event or a dry run finds the rule's meaning in one place.

export type OAuthErrorCode =
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'invalid_target'
  | 'unauthorized_client'
  | 'access_denied';

type Rule = { error: OAuthErrorCode; meaning: string };

export const RULES = {
  client_suspended: { error: 'unauthorized_client', meaning: 'The client (an agent) is suspended: nothing is issued to it until an admin activates it.' },
  not_an_agent: { error: 'unauthorized_client', meaning: 'Only registered agents may use this grant (token exchange, backchannel approval, ID-JAG redemption).' },
  dynamic_client_needs_human: { error: 'unauthorized_client', meaning: 'A client that registered itself (CIMD, DCR) acts only for a human who consents; it gets no client-credentials tokens.' },
  resource_required: { error: 'invalid_target', meaning: 'The request names no resource and the client has no single allowed resource to default to.' },
  unknown_resource: { error: 'invalid_target', meaning: 'The resource is not a registered resource server.' },
  resource_not_allowed: { error: 'invalid_target', meaning: "The resource is not among the client's allowed resources (its audiences)." },
  one_target: { error: 'invalid_target', meaning: 'A token exchange names one resource and at most one audience (the next agent).' },
  self_audience: { error: 'invalid_target', meaning: 'An agent cannot delegate to itself.' },
  unknown_audience: { error: 'invalid_target', meaning: 'The audience of a delegation is not an active agent.' },
  audience_widening: { error: 'invalid_target', meaning: 'An exchange cannot move a token to another resource than the one its subject token is for.' },
  scope_not_defined: { error: 'invalid_scope', meaning: 'The resource defines no such scope.' },
  scope_outside_ceiling: { error: 'invalid_scope', meaning: "The scope is outside the client's scope ceiling (or the next agent's)." },
  scope_not_approved: { error: 'invalid_scope', meaning: 'The human has not approved this scope for this client at this resource.' },
  scope_not_in_subject: { error: 'invalid_scope', meaning: 'The subject token does not carry the scope: an exchange only narrows.' },
  approval_required_each_time: { error: 'invalid_scope', meaning: 'The scope is marked requires_approval: it comes only from one fresh human approval per token (CIBA or a once-only consent), never from client credentials, refresh, exchange or a standing approval.' },
  no_scope_allowed: { error: 'invalid_scope', meaning: 'Nothing at this resource is allowed by every limit that applies, so no token is issued (never an empty-scope token).' },
  user_inactive: { error: 'invalid_grant', meaning: 'The human the token would be for is disabled or unknown.' },
  no_approval: { error: 'invalid_grant', meaning: 'The human has no active approval for this agent at this resource: ask through the consent flow or CIBA.' },
  subject_not_human: { error: 'invalid_grant', meaning: "The subject_token of an exchange must stand for a human; an agent's own token cannot be exchanged for delegated access." },
  subject_token_foreign: { error: 'invalid_grant', meaning: 'The subject_token was neither issued to the calling agent nor addressed to it.' },
  subject_expired: { error: 'invalid_grant', meaning: 'The subject token (or the approval behind it) has no life left.' },
  dpop_binding: { error: 'invalid_grant', meaning: 'The subject_token is DPoP-bound: the request must carry a proof signed with the same key.' },
  actor_mismatch: { error: 'invalid_grant', meaning: "The actor_token must be the calling agent's own token." },
  delegation_cycle: { error: 'invalid_grant', meaning: "The agent already acts in the token's delegation chain; a chain cannot loop back to it." },
  delegation_depth: { error: 'invalid_grant', meaning: 'The delegation chain would exceed the configured number of agents.' },
  missing_parameter: { error: 'invalid_request', meaning: 'A parameter the grant requires is missing.' },
  requested_token_type: { error: 'invalid_request', meaning: 'The requested_token_type is not one this server issues.' },
  requested_lifetime: { error: 'invalid_request', meaning: 'requested_lifetime must be a positive whole number of seconds.' },
  token_type: { error: 'invalid_request', meaning: 'The subject_token_type or actor_token_type is not one this server accepts.' },
  confidential_client_required: { error: 'unauthorized_client', meaning: 'Redeeming an ID-JAG needs a client that authenticates (a confidential client), never a public one.' },
  remote_resource: { error: 'invalid_target', meaning: 'The resource is served by another authorization server: this server issues only ID-JAGs for it (token exchange, requested_token_type id-jag, audience = that server), and ID-JAGs only for such resources.' },
  assertion_invalid: { error: 'invalid_grant', meaning: 'The assertion (an ID-JAG) is malformed, not signed by its issuer\'s keys, expired, of the wrong type (typ oauth-id-jag+jwt), or not addressed to this server.' },
  assertion_untrusted_issuer: { error: 'invalid_grant', meaning: 'The assertion comes from an issuer this server does not trust for that purpose (admin API /trusted-issuers).' },
  assertion_client_mismatch: { error: 'invalid_grant', meaning: "The ID-JAG's client_id is not the authenticated client, or its trusted issuer is not allowed for this client." },
  assertion_resource_mismatch: { error: 'invalid_target', meaning: 'The resource is not one the ID-JAG names, or not one its trusted issuer may grant.' },
  assertion_replayed: { error: 'invalid_grant', meaning: 'The ID-JAG was already redeemed: each is good for one token.' },
  subject_unknown: { error: 'invalid_grant', meaning: "The assertion's subject is linked to no human here (a user's external_identities, never matched by e-mail)." },
  token_invalid: { error: 'invalid_grant', meaning: 'The presented token is not a token this server issued, or it was revoked or has expired.' },
  // Refusals of the protocol engine (oidc-provider) before or around the policy, named so that every refusal has a rule.
  client_authentication_failed: { error: 'invalid_client', meaning: 'The client could not be authenticated: unknown, wrong secret or assertion, or a suspended agent.' },
  grant_type_not_allowed: { error: 'unauthorized_client', meaning: 'The client is not registered for this grant type.' },
  grant_invalid: { error: 'invalid_grant', meaning: 'The authorization code, refresh token or CIBA request is unknown, already used, expired, or its grant (approval) was revoked.' },
  approval_pending: { error: 'authorization_pending', meaning: 'The human has not answered the CIBA request yet: poll again after the interval.' },
  polling_too_fast: { error: 'slow_down', meaning: 'The agent polled a CIBA request within the interval.' },
  request_expired: { error: 'expired_token', meaning: 'The CIBA request expired before the human answered: ask again.' },
  human_denied: { error: 'access_denied', meaning: 'The human (or their block on the agent) denied the request.' },
  request_invalid: { error: 'invalid_request', meaning: 'The request is malformed: a missing, repeated or unsupported parameter.' },
} as const satisfies Record<string, Rule>;

export type RuleId = keyof typeof RULES;

/** A refusal: the rule that refused, its OAuth error, and a description telling the caller what to do next. */
export class PolicyRefusal extends Error {
  override name = 'PolicyRefusal';
  readonly code: OAuthErrorCode;
  constructor(
    readonly rule: RuleId,
    description: string,
  ) {
    super(description);
    this.code = RULES[rule].error;
  }
}

/**
 * The rule for a refusal the protocol engine made itself (no policy rule attached): by its OAuth error, so that every
 * refusal on record names a rule of this catalogue.
 */
export function ruleForProtocolError(error: string | undefined, description = ''): RuleId {
  switch (error) {
    case 'invalid_client': return 'client_authentication_failed';
    case 'unauthorized_client': return 'grant_type_not_allowed';
    case 'invalid_grant': return 'grant_invalid';
    case 'authorization_pending': return 'approval_pending';
    case 'slow_down': return 'polling_too_fast';
    case 'expired_token': return 'request_expired';
    case 'access_denied': return 'human_denied';
    case 'invalid_scope': return 'scope_not_approved';
    case 'invalid_target': return 'resource_not_allowed';
    default: return /grant type is not allowed|is not allowed for this client/.test(description) ? 'grant_type_not_allowed' : 'request_invalid';
  }
}
