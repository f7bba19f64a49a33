// The facts a decision is made from: plain data, gathered by one loader per request (src/oauth/request-facts.ts for
// the token and authorization endpoints, the token-exchange grant for exchanges) and read by src/policy/decide.ts.
// No I/O types here: tests and the admin dry run build these objects directly.
import type { Actor } from '../tokens/principals.js';

/**
 * What is asking, at which endpoint. `authorization` and `backchannel` are questions to a human (the authorization
 * endpoint, a CIBA request): what a client may ask for; the rest are grants at the token endpoint.
 */
export type GrantKind = 'authorization' | 'backchannel' | 'authorization_code' | 'refresh_token' | 'client_credentials' | 'ciba' | 'token_exchange' | 'id_jag';

export type ClientFacts = {
  id: string;
  kind: 'app' | 'agent';
  active: boolean;
  /** Scope ceiling: no token of this client carries a scope outside it. */
  scopes: string[];
  /** Allowed resources (audiences): deny by default. */
  resources: string[];
  /** Longest access-token life this client may get, seconds (agents); undefined: the resource's. */
  maxTokenTtl?: number | undefined;
  /** Arrived by itself (Client ID Metadata Document, DCR): no ceilings of its own, bounded by the human's consent. */
  dynamic?: boolean | undefined;
  /** Authenticates with nothing (`none`): a public client. */
  publicClient?: boolean | undefined;
};

export type ResourceFacts = {
  identifier: string;
  scopes: string[];
  /** Scopes flagged requires_approval: one fresh human approval per token. */
  approvalOnly: string[];
  accessTokenTtl: number;
  /** Whether clients that arrived by themselves may be consented to here. */
  allowDynamicClients: boolean;
  /** A remote resource: the issuer of the authorization server serving it (reached only through an ID-JAG). */
  authorizationServer?: string | undefined;
};

export type ApprovalFacts = { id: string; agentId: string; scopes: string[]; resources: string[]; expiresAt: number };

export type SubjectFacts = {
  jti: string;
  subject: string;
  subjectKind: 'human' | 'agent' | 'app';
  clientId: string;
  scopes: string[];
  audience: string | null;
  resource: string | null;
  actorChain: Actor[];
  dpopJkt: string | null;
  expiresAt: number;
};

export type RequestFacts = {
  grant: GrantKind;
  /** Epoch milliseconds: decisions never read the clock. */
  now: number;
  client: ClientFacts;
  /** The `resource` asked for (canonical), if any. */
  requestedResource?: string | undefined;
  /** The registered resource the token would be for (requested or defaulted); undefined when not registered. */
  resource?: ResourceFacts | undefined;
  /** Resource scopes asked for; undefined: the most the policy allows. */
  requestedScopes?: string[] | undefined;
  /** Seconds asked for (token exchange `requested_lifetime`). */
  requestedLifetime?: number | undefined;
  /** The human the token would be for (code, refresh, CIBA, exchange). */
  human?: { id: string; active: boolean } | undefined;
  /** What the human's consent (the oidc-provider Grant) holds at this resource: code, refresh, CIBA. */
  consented?: string[] | undefined;
  /** Standing approvals of this human for this client, newest first (agents). */
  approvals?: ApprovalFacts[] | undefined;
  /** A fresh, one-token human approval (CIBA answer, once-only consent): the only source of approval-only scopes. */
  fresh?: string[] | undefined;
  /** Token exchange: the presented subject token, the DPoP key of this request, whether an actor token matched. */
  exchange?: {
    subject: SubjectFacts;
    dpopJkt?: string | undefined;
    actorTokenSubject?: { sub: string; kind: 'human' | 'agent' | 'app' } | undefined;
    /** The `audience` asked for, when it is not the resource (a delegation to the next agent). */
    requestedAudience?: string | undefined;
    /** The next agent when delegating (undefined when the audience names no active agent). */
    nextAgent?: ClientFacts | undefined;
    /** The next agent's standing approvals from the human at the resource. */
    nextAgentApprovals?: ApprovalFacts[] | undefined;
    /**
     * What is asked for: an access token (default), or an ID-JAG for another authorization server (this server as
     * the enterprise IdP), whose subject token is an ID token: identity, no scopes of its own to narrow from.
     */
    issue?: 'access_token' | 'id_jag' | undefined;
  } | undefined;
  /**
   * An Identity Assertion JWT Authorization Grant being redeemed (grant `id_jag`), already verified (signature, typ,
   * expiry, audience) by the grant: what it says and what its trusted issuer is allowed.
   */
  assertion?: {
    issuer: string;
    /** The ID-JAG's `client_id`: the client it was issued for. */
    clientId: string;
    /** The ID-JAG's `scope` and `resource` claims; undefined when absent (the issuer did not narrow). */
    scopes?: string[] | undefined;
    resources?: string[] | undefined;
    /** The trusted issuer's allowed clients and resources; empty: any. */
    allowedClients: string[];
    allowedResources: string[];
  } | undefined;
  limits: { stepUpTtl: number; maxDelegationDepth: number };
};

/** One line of a decision trail: which limit applied, what it removed or capped. */
export type TrailEntry = { limit: string; detail: string; removed?: string[]; seconds?: number };
