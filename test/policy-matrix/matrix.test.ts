// The policy matrix, through real HTTP against one running server: grant (client credentials, authorization code,
// refresh, CIBA, token exchange, step-up) × principal (app, agent alone, agent for a human, delegated agent) × case
// (inside, outside the ceiling, outside the approval, requires_approval, unregistered resource, missing resource,
// missing scope, suspended, revoked approval). Each cell is allowed (the JWT's exact scopes and aud are checked), asks
// the human (a consent page), or is refused with an OAuth error AND the rule id its audit event names. Cells that
// cannot exist (an app doing an exchange, an agent alone in a code flow) assert their own refusal. Set-up is shared:
// one server, agents and approvals made once; cells that change state use their own agent.
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintHumanToken } from '../support/tokens.js';
import {
  ACCESS_TOKEN_TYPE,
  answerCiba,
  attempt,
  auditMark,
  authorize,
  CIBA_GRANT,
  configurations,
  EXCHANGE_GRANT,
  humanBrowser,
  postForm,
  redeem,
  refusalAudit,
  toOutcome,
  type Credentials,
  type Human,
  type Outcome,
} from '../support/policy-drivers.js';

const API = 'https://files.example.test';
const OTHER = 'https://other.example.test';
const UNREGISTERED = 'https://unregistered.example.test';
const REDIRECT = 'http://127.0.0.1:9/cb';
const alice = { username: 'alice', password: 'correct horse battery staple' };
/** Every principal's ceiling at API: files:admin is defined there but outside every ceiling. */
const CEILING = ['files:read', 'files:write', 'files:delete'];
const STEP_UP_TTL = 60;

let server: TestServer;
let jwks: ReturnType<typeof createRemoteJWKSet>;
let configFor: (who: Credentials) => Promise<client.Configuration>;
let human: Human;
let aliceId: string;
/** The app: client credentials, code and refresh, ceiling CEILING at API; alice consented to files:read. */
let app: Credentials;
/** An app allowed two resources: a request without `resource` has no default. */
let appTwoResources: Credentials;
/** Agent A: alone (client credentials) and for alice (standing approval files:read, from her consent). */
let A: Credentials;
/** Agent B: the next agent of A's delegations (standing approval files:read). */
let B: Credentials;
/** A suspended agent (its credentials are still the right ones). */
let S: Credentials;
/** Refresh tokens, replaced as each successful refresh rotates them. */
const refreshTokens = new Map<string, string>();

type Expected =
  | { allow: string[]; aud?: string; maxLifetime?: number; noRefresh?: true }
  | { refuse: string; rule: string | null; action: string }
  | { asks: true };
type Result = Outcome | { asks: true } | { ok: false; status: number; error: string; description: string };
type Cell = { grant: string; principal: string; case: string; run: () => Promise<Result>; expect: Expected };

let agentCount = 0;
async function newAgent(options: { approve?: string[]; audiences?: string[]; scopes?: string[] } = {}): Promise<Credentials> {
  agentCount += 1;
  const { agent, clientSecret } = await server.stores.agents.create({
    name: `Matrix agent ${agentCount}`,
    ownerUserId: aliceId,
    scopes: ['openid', 'offline_access', ...(options.scopes ?? CEILING)],
    audiences: options.audiences ?? [API],
    maxTokenTtl: 300,
    tokenEndpointAuthMethod: 'client_secret_basic',
    redirectUris: [REDIRECT],
  });
  if (options.approve) await server.stores.approvals.create({ userId: aliceId, agentId: agent.id, scopes: options.approve, resources: [API], grantedVia: 'admin' });
  return { id: agent.id, secret: clientSecret! };
}

/** Alice consents (code flow, offline_access) to `scopes` for this client; answers the code-flow tokens. */
async function consentOnce(who: Credentials, scopes: string[]): Promise<client.TokenEndpointResponse> {
  const end = await authorize(server, human, await configFor(who), { redirectUri: REDIRECT, scope: `openid offline_access ${scopes.join(' ')}`, resource: API, prompt: 'consent' }, scopes);
  if (end.kind !== 'code') throw new Error(`consent did not end with a code: ${JSON.stringify(end)}`);
  const outcome = await redeem(await configFor(who), end);
  if (!outcome.ok) throw new Error(`code redemption refused: ${JSON.stringify(outcome)}`);
  return outcome.body as unknown as client.TokenEndpointResponse;
}

const cc = async (who: Credentials, params: Record<string, string>) => attempt(async () => client.clientCredentialsGrant(await configFor(who), params));
const exchange = async (who: Credentials, params: Record<string, string>) =>
  attempt(async () => client.genericGrantRequest(await configFor(who), EXCHANGE_GRANT, { subject_token_type: ACCESS_TOKEN_TYPE, ...params }));
const rawToken = async (who: Credentials, fields: Record<string, string>) => toOutcome(await postForm(server, '/token', who, fields));
const humanToken = (who: Credentials, scopes: string[]) => mintHumanToken(server, { userId: aliceId, clientId: who.id, resource: API, scopes });

/** A refresh with the principal's current refresh token; a success keeps the rotated one. */
async function refresh(who: Credentials, params: Record<string, string>): Promise<Outcome> {
  const outcome = await attempt(async () => client.refreshTokenGrant(await configFor(who), refreshTokens.get(who.id)!, params));
  if (outcome.ok && typeof outcome.body.refresh_token === 'string') refreshTokens.set(who.id, outcome.body.refresh_token);
  return outcome;
}

/** A code-flow authorization by `who` for alice (already signed in), redeemed when it ends with a code. */
async function codeFlow(who: Credentials, scope: string, resource: string | undefined): Promise<Result> {
  const config = await configFor(who);
  const end = await authorize(server, human, config, { redirectUri: REDIRECT, scope, resource }, false);
  if (end.kind === 'consent') return { asks: true };
  if (end.kind === 'error') return { ok: false, status: 302, error: end.error, description: end.description };
  return redeem(config, end);
}

/** A CIBA request for alice; when accepted and `tick` is given, alice approves those scopes and the agent polls. */
async function ciba(who: Credentials, fields: Record<string, string>, tick?: string[], beforePoll?: () => Promise<void>): Promise<Outcome> {
  const asked = await postForm(server, '/backchannel', who, { login_hint: alice.username, ...fields });
  if (asked.status !== 200) return toOutcome(asked);
  const id = String(asked.body.auth_req_id);
  await answerCiba(server, alice, id, tick ?? []);
  await beforePoll?.();
  return rawToken(who, { grant_type: CIBA_GRANT, auth_req_id: id });
}

async function revokeApprovalsOf(who: Credentials): Promise<void> {
  const { items } = await server.stores.approvals.list({ limit: 10, agentId: who.id, status: 'active' });
  for (const approval of items) await server.stores.revocation.revoke({ approvalId: approval.id }, { actor: { kind: 'human', id: aliceId } });
}

/** A delegation token from A to `next` for alice (A's approval files:read), or the refusal. */
async function delegateTo(next: Credentials, scope = 'files:read'): Promise<Outcome> {
  return exchange(A, { subject_token: await humanToken(A, ['files:read', 'files:write']), audience: next.id, resource: API, scope });
}

async function delegationToken(next: Credentials): Promise<string> {
  const outcome = await delegateTo(next);
  if (!outcome.ok) throw new Error(`delegation refused: ${JSON.stringify(outcome)}`);
  return outcome.body.access_token;
}

/** The admin API's answer to suspending something that is not an agent (apps cannot be suspended). */
async function suspendApp(): Promise<Result> {
  const response = await fetch(`${server.url}/admin/v1/agents/${app.id}/suspend`, { method: 'POST', headers: { authorization: `Bearer ${server.config.bootstrapAdminKey}` } });
  const body = (await response.json()) as { error?: string; message?: string };
  return { ok: false, status: response.status, error: `admin ${response.status} ${body.error}`, description: body.message ?? '' };
}

/** Approvals are for agents only: a store refusal stands for the cell "revoked approval" of an app. */
async function approvalForApp(): Promise<Result> {
  try {
    await server.stores.approvals.create({ userId: aliceId, agentId: app.id, scopes: ['files:read'], resources: [API], grantedVia: 'admin' });
    return { ok: true, body: { access_token: 'approval created for an app' } };
  } catch (error) {
    return { ok: false, status: 0, error: 'approval refused', description: (error as Error).message };
  }
}

const allow = (scopes: string[], extra: { maxLifetime?: number; noRefresh?: true } = {}): Expected => ({ allow: scopes, aud: API, ...extra });
const refuse = (error: string, rule: string | null, action = 'token.refused'): Expected => ({ refuse: error, rule, action });
const asks: Expected = { asks: true };
const ADMIN_SUSPEND_APP: Expected = { refuse: 'admin 404 not_found', rule: null, action: '' };
const NO_APPROVAL_FOR_APPS: Expected = { refuse: 'approval refused', rule: null, action: '' };

function cells(): Cell[] {
  const list: Cell[] = [];
  const add = (grant: string, principal: string, cases: Record<string, [() => Promise<Result>, Expected]>) => {
    for (const [name, [run, expected]] of Object.entries(cases)) list.push({ grant, principal, case: name, run, expect: expected });
  };

  // Client credentials: the client is the subject; approvals play no part; approval-only scopes never.
  for (const [principal, who, rules] of [
    ['app', () => app, { suspended: [suspendApp, ADMIN_SUSPEND_APP], revoked: [approvalForApp, NO_APPROVAL_FOR_APPS] }],
    ['agent alone', () => A, {
      suspended: [() => cc(S, { resource: API, scope: 'files:read' }), refuse('invalid_client', 'client_suspended')],
      revoked: [async () => { const R = await newAgent({ approve: ['files:read'] }); await revokeApprovalsOf(R); return cc(R, { resource: API, scope: 'files:read' }); }, allow(['files:read'])],
    }],
  ] as const) {
    add('client_credentials', principal, {
      inside: [() => cc(who(), { resource: API, scope: 'files:read' }), allow(['files:read'])],
      'outside ceiling': [() => cc(who(), { resource: API, scope: 'files:admin' }), refuse('invalid_scope', 'scope_outside_ceiling')],
      'outside approval (none applies)': [() => cc(who(), { resource: API, scope: 'files:write' }), allow(['files:write'])],
      requires_approval: [() => cc(who(), { resource: API, scope: 'files:delete' }), refuse('invalid_scope', 'approval_required_each_time')],
      'unregistered resource': [() => cc(who(), { resource: UNREGISTERED, scope: 'files:read' }), refuse('invalid_target', 'unknown_resource')],
      'missing resource (single allowed)': [() => cc(who(), { scope: 'files:read' }), allow(['files:read'])],
      'missing scope': [() => cc(who(), { resource: API }), allow(['files:read', 'files:write'])],
      suspended: rules.suspended as [() => Promise<Result>, Expected],
      'revoked approval': rules.revoked as [() => Promise<Result>, Expected],
    });
  }
  add('client_credentials', 'app (two resources)', {
    'missing resource (no default)': [() => cc(appTwoResources, { scope: 'files:read' }), refuse('invalid_target', 'resource_required')],
  });

  // Authorization code: the human is asked for what no consent covers; the token carries what was consented.
  for (const [principal, who] of [['app', () => app], ['agent for a human', () => A]] as const) {
    add('authorization_code', principal, {
      inside: [() => codeFlow(who(), 'openid files:read', API), allow(['files:read'])],
      'outside ceiling': [() => codeFlow(who(), 'openid files:admin', API), refuse('invalid_scope', 'scope_outside_ceiling', 'authorization.refused')],
      'outside approval': [() => codeFlow(who(), 'openid files:write', API), asks],
      requires_approval: [() => codeFlow(who(), 'openid files:read files:delete', API), asks],
      'unregistered resource': [() => codeFlow(who(), 'openid files:read', UNREGISTERED), refuse('invalid_target', 'unknown_resource', 'authorization.refused')],
      'missing resource (single allowed)': [() => codeFlow(who(), 'openid files:read', undefined), allow(['files:read'])],
      'missing scope': [() => codeFlow(who(), 'openid', API), allow(['files:read'])],
    });
  }
  add('authorization_code', 'app', {
    suspended: [suspendApp, ADMIN_SUSPEND_APP],
    'revoked approval': [approvalForApp, NO_APPROVAL_FOR_APPS],
  });
  add('authorization_code', 'agent for a human', {
    suspended: [() => rawToken(S, { grant_type: 'authorization_code', code: 'x'.repeat(43), redirect_uri: REDIRECT, code_verifier: 'y'.repeat(43) }), refuse('invalid_client', 'client_suspended')],
    'revoked approval': [async () => {
      const R = await newAgent();
      await consentOnce(R, ['files:read']);
      const config = await configFor(R);
      const end = await authorize(server, human, config, { redirectUri: REDIRECT, scope: 'openid files:read', resource: API }, false);
      if (end.kind !== 'code') throw new Error(`expected a code, got ${end.kind}`);
      await revokeApprovalsOf(R);
      return redeem(config, end);
    }, refuse('invalid_grant', 'grant_invalid')],
  });
  add('authorization_code', 'agent alone', {
    // No human, no code: an agent cannot redeem a code nobody issued to it.
    'no human (cell does not exist)': [() => rawToken(A, { grant_type: 'authorization_code', code: 'x'.repeat(43), redirect_uri: REDIRECT, code_verifier: 'y'.repeat(43) }), refuse('invalid_grant', 'grant_invalid')],
  });

  // Refresh: the grant's resource and scopes (RFC 6749 §6), re-decided by the policy, never an approval-only scope.
  for (const [principal, who] of [['app', () => app], ['agent for a human', () => A]] as const) {
    add('refresh_token', principal, {
      inside: [() => refresh(who(), { resource: API, scope: 'files:read' }), allow(['files:read'])],
      // oidc-provider refuses a scope beyond the refresh token (the human's grant) before the policy sees the request.
      'outside ceiling': [() => refresh(who(), { resource: API, scope: 'files:admin' }), refuse('invalid_scope', 'scope_not_approved')],
      'outside approval': [() => refresh(who(), { resource: API, scope: 'files:write' }), refuse('invalid_scope', 'scope_not_approved')],
      requires_approval: [() => refresh(who(), { resource: API, scope: 'files:delete' }), refuse('invalid_scope', 'scope_not_approved')],
      'unregistered resource': [() => refresh(who(), { resource: UNREGISTERED, scope: 'files:read' }), refuse('invalid_target', 'resource_not_allowed')],
      'missing resource': [() => refresh(who(), { scope: 'files:read' }), allow(['files:read'])],
      'missing scope': [() => refresh(who(), { resource: API }), allow(['files:read'])],
    });
  }
  add('refresh_token', 'app', { suspended: [suspendApp, ADMIN_SUSPEND_APP], 'revoked approval': [approvalForApp, NO_APPROVAL_FOR_APPS] });
  add('refresh_token', 'agent for a human', {
    suspended: [() => rawToken(S, { grant_type: 'refresh_token', refresh_token: 'x'.repeat(43) }), refuse('invalid_client', 'client_suspended')],
    'revoked approval': [async () => {
      const R = await newAgent();
      const tokens = await consentOnce(R, ['files:read']);
      await revokeApprovalsOf(R);
      return attempt(async () => client.refreshTokenGrant(await configFor(R), tokens.refresh_token!, { resource: API }));
    }, refuse('invalid_grant', 'grant_invalid')],
  });
  add('refresh_token', 'agent alone', {
    'no refresh token from client credentials': [async () => {
      const outcome = await cc(A, { resource: API, scope: 'files:read' });
      return outcome.ok && outcome.body.refresh_token === undefined ? { ok: false, status: 0, error: 'no refresh token', description: '' } : outcome;
    }, { refuse: 'no refresh token', rule: null, action: '' }],
  });

  add('refresh_token', 'delegated agent', {
    'no refresh token from an exchange': [async () => {
      const outcome = await exchange(B, { subject_token: await delegationToken(B), resource: API, scope: 'files:read' });
      return outcome.ok && outcome.body.refresh_token === undefined ? { ok: false, status: 0, error: 'no refresh token', description: '' } : outcome;
    }, { refuse: 'no refresh token', rule: null, action: '' }],
  });

  // CIBA: what may be asked is the policy's; the human's answer bounds the token. Each cell asks with its own agent
  // (an approval extends the agent's standing one).
  add('ciba', 'app', {
    'not an agent': [() => postForm(server, '/backchannel', app, { login_hint: alice.username, scope: 'openid files:read', resource: API }).then(toOutcome), refuse('invalid_request', 'grant_type_not_allowed', 'backchannel_authentication.refused')],
  });
  add('ciba', 'agent alone', {
    'no human named': [() => postForm(server, '/backchannel', A, { scope: 'openid files:read', resource: API }).then(toOutcome), refuse('invalid_request', 'request_invalid', 'backchannel_authentication.refused')],
  });
  add('ciba', 'agent for a human', {
    inside: [async () => ciba(await newAgent(), { scope: 'openid files:read', resource: API }, ['files:read']), allow(['files:read'], { noRefresh: true })],
    'outside ceiling': [async () => ciba(await newAgent(), { scope: 'openid files:admin', resource: API }), refuse('invalid_scope', 'scope_outside_ceiling', 'backchannel_authentication.refused')],
    'outside approval (human keeps less)': [async () => ciba(await newAgent(), { scope: 'openid files:read files:write', resource: API }, ['files:read']), allow(['files:read'], { noRefresh: true })],
    requires_approval: [async () => ciba(await newAgent(), { scope: 'openid files:read files:delete', resource: API }, ['files:read', 'files:delete']), allow(['files:read', 'files:delete'], { maxLifetime: STEP_UP_TTL, noRefresh: true })],
    'unregistered resource': [async () => ciba(await newAgent(), { scope: 'openid files:read', resource: UNREGISTERED }), refuse('invalid_target', 'unknown_resource', 'backchannel_authentication.refused')],
    'missing resource (single allowed)': [async () => ciba(await newAgent(), { scope: 'openid files:read' }, ['files:read']), allow(['files:read'], { noRefresh: true })],
    'missing resource (two allowed)': [async () => ciba(await newAgent({ audiences: [API, OTHER], scopes: [...CEILING, 'other:read'] }), { scope: 'openid files:read' }), refuse('invalid_target', 'resource_required', 'backchannel_authentication.refused')],
    // A question naming nothing to approve is refused (never an empty-scope token).
    'missing scope': [async () => ciba(await newAgent(), { scope: 'openid', resource: API }), refuse('invalid_scope', 'no_scope_allowed', 'backchannel_authentication.refused')],
    suspended: [() => postForm(server, '/backchannel', S, { login_hint: alice.username, scope: 'openid files:read', resource: API }).then(toOutcome), refuse('invalid_client', 'client_suspended', 'backchannel_authentication.refused')],
    'revoked approval': [async () => {
      const R = await newAgent();
      return ciba(R, { scope: 'openid files:read', resource: API }, ['files:read'], () => revokeApprovalsOf(R));
    }, refuse('invalid_grant', 'grant_invalid')],
  });

  // Token exchange: subject ∩ ceiling ∩ approval (∩ the next agent's), never an approval-only scope.
  add('token_exchange', 'app', {
    'not an agent': [async () => exchange(app, { subject_token: await humanToken(A, ['files:read']), resource: API }), refuse('invalid_request', 'grant_type_not_allowed', 'token.refused')],
  });
  add('token_exchange', 'agent alone', {
    "own token as subject": [async () => {
      const own = await cc(A, { resource: API, scope: 'files:read' });
      if (!own.ok) throw new Error('no client-credentials token');
      return exchange(A, { subject_token: own.body.access_token, resource: API });
    }, refuse('invalid_grant', 'subject_not_human', 'token_exchange.refused')],
  });
  const x = (error: string, rule: string) => refuse(error, rule, 'token_exchange.refused');
  const subjectOfA = () => humanToken(A, ['files:read', 'files:write', 'files:admin', 'files:delete']);
  add('token_exchange', 'agent for a human', {
    inside: [async () => exchange(A, { subject_token: await subjectOfA(), resource: API, scope: 'files:read' }), allow(['files:read'])],
    'outside ceiling': [async () => exchange(A, { subject_token: await subjectOfA(), resource: API, scope: 'files:admin' }), x('invalid_scope', 'scope_outside_ceiling')],
    'outside approval': [async () => exchange(A, { subject_token: await subjectOfA(), resource: API, scope: 'files:write' }), x('invalid_scope', 'scope_not_approved')],
    requires_approval: [async () => exchange(A, { subject_token: await subjectOfA(), resource: API, scope: 'files:delete' }), x('invalid_scope', 'approval_required_each_time')],
    'unregistered resource': [async () => exchange(A, { subject_token: await subjectOfA(), resource: UNREGISTERED, scope: 'files:read' }), x('invalid_target', 'unknown_resource')],
    'missing resource': [async () => exchange(A, { subject_token: await subjectOfA(), scope: 'files:read' }), allow(['files:read'])],
    'missing scope': [async () => exchange(A, { subject_token: await subjectOfA(), resource: API }), allow(['files:read'])],
    suspended: [async () => exchange(S, { subject_token: await subjectOfA(), resource: API }), refuse('invalid_client', 'client_suspended', 'token.refused')],
    'revoked approval': [async () => {
      const R = await newAgent({ approve: ['files:read'] });
      await revokeApprovalsOf(R);
      return exchange(R, { subject_token: await humanToken(R, ['files:read']), resource: API });
    }, x('invalid_grant', 'no_approval')],
  });
  add('token_exchange', 'delegated agent', {
    inside: [async () => exchange(B, { subject_token: await delegationToken(B), resource: API, scope: 'files:read' }), allow(['files:read'])],
    'outside ceiling': [async () => exchange(B, { subject_token: await delegationToken(B), resource: API, scope: 'files:admin' }), x('invalid_scope', 'scope_outside_ceiling')],
    // A delegation carries only what both approvals allowed, so the subject token is the limit that bites.
    'outside approval': [async () => exchange(B, { subject_token: await delegationToken(B), resource: API, scope: 'files:write' }), x('invalid_scope', 'scope_not_in_subject')],
    'outside approval (delegating)': [() => delegateTo(B, 'files:write'), x('invalid_scope', 'scope_not_approved')],
    requires_approval: [async () => exchange(B, { subject_token: await delegationToken(B), resource: API, scope: 'files:delete' }), x('invalid_scope', 'approval_required_each_time')],
    'unregistered resource': [async () => exchange(B, { subject_token: await delegationToken(B), resource: UNREGISTERED, scope: 'files:read' }), x('invalid_target', 'unknown_resource')],
    'missing resource': [async () => exchange(B, { subject_token: await delegationToken(B), scope: 'files:read' }), allow(['files:read'])],
    'missing scope': [async () => exchange(B, { subject_token: await delegationToken(B), resource: API }), allow(['files:read'])],
    'suspended (next agent)': [() => delegateTo(S), x('invalid_target', 'unknown_audience')],
    'revoked approval': [async () => {
      const next = await newAgent({ approve: ['files:read'] });
      const delegated = await delegationToken(next);
      await revokeApprovalsOf(next);
      return exchange(next, { subject_token: delegated, resource: API });
    }, x('invalid_grant', 'no_approval')],
  });

  // Step-up: approval-only scopes come from one fresh human approval (CIBA, once-only consent), nothing else.
  add('step_up', 'app', {
    'once-only consent': [async () => {
      const config = await configFor(app);
      const end = await authorize(server, human, config, { redirectUri: REDIRECT, scope: 'openid files:delete', resource: API }, true);
      if (end.kind !== 'code') throw new Error(`expected a code, got ${JSON.stringify(end)}`);
      return redeem(config, end);
    }, allow(['files:delete'], { maxLifetime: STEP_UP_TTL, noRefresh: true })],
    'client credentials': [() => cc(app, { resource: API, scope: 'files:delete' }), refuse('invalid_scope', 'approval_required_each_time')],
  });
  add('step_up', 'agent alone', {
    'client credentials': [() => cc(A, { resource: API, scope: 'files:read files:delete' }), refuse('invalid_scope', 'approval_required_each_time')],
  });
  add('step_up', 'agent for a human', {
    'fresh CIBA approval': [async () => ciba(await newAgent(), { scope: 'openid files:delete', resource: API }, ['files:delete']), allow(['files:delete'], { maxLifetime: STEP_UP_TTL, noRefresh: true })],
    'once-only consent': [async () => {
      const R = await newAgent();
      const config = await configFor(R);
      const end = await authorize(server, human, config, { redirectUri: REDIRECT, scope: 'openid offline_access files:read files:delete', resource: API, prompt: 'consent' }, ['files:read', 'files:delete']);
      if (end.kind !== 'code') throw new Error(`expected a code, got ${JSON.stringify(end)}`);
      return redeem(config, end);
    }, allow(['files:read', 'files:delete'], { maxLifetime: STEP_UP_TTL, noRefresh: true })],
    'standing approval via exchange': [async () => exchange(A, { subject_token: await subjectOfA(), resource: API, scope: 'files:read files:delete' }), x('invalid_scope', 'approval_required_each_time')],
    'refresh': [() => refresh(A, { resource: API, scope: 'files:read files:delete' }), refuse('invalid_scope', 'scope_not_approved')],
    'exchange of a step-up token': [async () => {
      // A standing approval of files:read, so the exchange reaches the scope rules.
      const R = await newAgent({ approve: ['files:read'] });
      const stepUp = await ciba(R, { scope: 'openid files:delete', resource: API }, ['files:delete']);
      if (!stepUp.ok) throw new Error(`step-up refused: ${JSON.stringify(stepUp)}`);
      return exchange(R, { subject_token: stepUp.body.access_token, resource: API, scope: 'files:delete' });
    }, x('invalid_scope', 'approval_required_each_time')],
  });
  add('step_up', 'agent for a human', {
    // The human answered a CIBA request (with its binding message); that answer is for the token of that request,
    // not for a code flow the agent starts meanwhile under the same standing Grant.
    'unpolled CIBA step-up does not leak into a code flow': [async () => {
      const R = await newAgent();
      await consentOnce(R, ['files:read']);
      const asked = await postForm(server, '/backchannel', R, { login_hint: alice.username, scope: 'openid files:read files:delete', resource: API });
      if (asked.status !== 200) throw new Error(`backchannel refused: ${JSON.stringify(asked.body)}`);
      await answerCiba(server, alice, String(asked.body.auth_req_id), ['files:read', 'files:delete']);
      return codeFlow(R, 'openid files:read files:delete', API);
    }, asks],
  });
  add('step_up', 'delegated agent', {
    'delegating an approval-only scope': [() => delegateTo(B, 'files:delete'), x('invalid_scope', 'approval_required_each_time')],
  });
  return list;
}

beforeAll(async () => {
  server = await startTestServer({ env: { AGENTAUTH_CIBA_POLL_INTERVAL_S: '1' } });
  jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  configFor = configurations(server);
  await server.stores.resources.create({
    identifier: API,
    name: 'Files API',
    scopes: [
      { name: 'files:read', description: 'Read your files' },
      { name: 'files:write', description: 'Change your files' },
      { name: 'files:admin', description: 'Administer the file store' },
      { name: 'files:delete', description: 'Delete your files', requires_approval: true },
    ],
    access_token_ttl: 600,
  });
  await server.stores.resources.create({ identifier: OTHER, name: 'Other API', scopes: [{ name: 'other:read', description: 'Read other things' }] });
  aliceId = (await server.stores.users.create(alice)).id;
  human = humanBrowser(server, alice);
  const created = await server.stores.clients.createApp({
    name: 'Matrix app',
    redirectUris: [REDIRECT],
    grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'],
    authMethod: 'client_secret_basic',
    resources: [API],
    scopes: CEILING,
  });
  app = { id: created.clientId, secret: created.clientSecret! };
  const two = await server.stores.clients.createApp({
    name: 'Matrix app (two resources)',
    redirectUris: [],
    grantTypes: ['client_credentials'],
    authMethod: 'client_secret_basic',
    resources: [API, OTHER],
    scopes: ['files:read', 'other:read'],
  });
  appTwoResources = { id: two.clientId, secret: two.clientSecret! };
  A = await newAgent();
  B = await newAgent({ approve: ['files:read'] });
  S = await newAgent({ approve: ['files:read'] });
  await server.stores.revocation.suspendAgent(S.id, { actor: { kind: 'admin', id: 'matrix' } });
  // Alice consents, in the code flow, to files:read for the app and for agent A: their Grants, A's standing approval,
  // and the refresh tokens the refresh cells start from.
  for (const who of [app, A]) refreshTokens.set(who.id, (await consentOnce(who, ['files:read'])).refresh_token!);
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

const CELLS = cells();

it('covers every grant × principal × case the matrix names', () => {
  const grants = new Set(CELLS.map((c) => c.grant));
  expect([...grants].sort()).toEqual(['authorization_code', 'ciba', 'client_credentials', 'refresh_token', 'step_up', 'token_exchange']);
  expect(new Set(CELLS.map((c) => c.principal))).toEqual(new Set(['app', 'app (two resources)', 'agent alone', 'agent for a human', 'delegated agent']));
  // Printed for the note: the matrix's size.
  console.log(`policy matrix: ${CELLS.length} cells`);
});

describe.each([...new Set(CELLS.map((c) => `${c.grant} × ${c.principal}`))])('%s', (group) => {
  it.each(CELLS.filter((c) => `${c.grant} × ${c.principal}` === group).map((c) => [c.case, c] as const))('%s', async (_name, cell) => {
    const mark = await auditMark(server);
    const result = await cell.run();
    const expected = cell.expect;
    if ('asks' in expected) {
      // An issued token is summarised (its scope), never printed.
      expect('ok' in result && result.ok ? { issued: result.body.scope } : result).toEqual({ asks: true });
      return;
    }
    if ('allow' in expected) {
      expect(result).toMatchObject({ ok: true });
      const body = (result as Extract<Outcome, { ok: true }>).body;
      const { payload } = await jwtVerify(body.access_token, jwks, { issuer: server.issuer, typ: 'at+jwt' });
      expect({ scopes: String(payload.scope).split(' ').sort(), aud: payload.aud }).toEqual({ scopes: [...expected.allow].sort(), aud: expected.aud ?? API });
      if (expected.maxLifetime) expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(expected.maxLifetime);
      if (expected.noRefresh) expect(body.refresh_token).toBeUndefined();
      // The record of the token keeps the decision trail.
      const record = await server.db.prisma.issuedToken.findUnique({ where: { jti: decodeJwt(body.access_token).jti! } });
      expect(record?.decision).toEqual(expect.arrayContaining([expect.objectContaining({ limit: expect.any(String) })]));
      return;
    }
    const refused = result as Extract<Result, { ok: false }>;
    // The description is part of what is compared against, so a failure shows what the client was told.
    expect({ ok: refused.ok, error: refused.error, description: refused.description }).toMatchObject({ ok: false, error: expected.refuse });
    if (!expected.action) return;
    const event = await refusalAudit(server, mark, expected.action);
    const details = (event?.details ?? {}) as { rule?: unknown };
    expect({ action: event?.action, rule: details.rule ?? null, details }).toMatchObject({ action: expected.action, rule: expected.rule });
    if (expected.rule === 'client_suspended') {
      // A suspended agent's refusal is on the record under the agent, not as an anonymous app.
      expect({ actorKind: event?.actorKind, agentId: event?.agentId }).toEqual({ actorKind: 'agent', agentId: S.id });
    }
  });
});

it('a refused refresh (a resource outside the grant) leaves the refresh token as it was: the next honest refresh works', async () => {
  const before = refreshTokens.get(app.id);
  const refused = await refresh(app, { resource: OTHER });
  expect(refused).toMatchObject({ ok: false, error: 'invalid_target' });
  expect(refreshTokens.get(app.id)).toBe(before);
  const honest = await refresh(app, { resource: API });
  expect(honest).toMatchObject({ ok: true });
});
