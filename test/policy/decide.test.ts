// The one policy, on its own: plain facts in, an allowance or a refusal out. Properties over generated facts for
// every grant (fast-check): no path ever issues a scope outside resource ∩ ceiling ∩ approval (∩ subject token for
// an exchange), approval-only scopes come only from a fresh approval, and a token never outlives any limit.
import fc from 'fast-check';
import { decide, nextActorChain, standingApprovalProblems, targetResource, type Allowance } from '../../src/policy/decide.js';
import type { ClientFacts, GrantKind, RequestFacts, ResourceFacts } from '../../src/policy/facts.js';
import { PolicyRefusal, RULES } from '../../src/policy/rules.js';

const SCOPES = ['a', 'b', 'c', 'd', 'e'];
const R = 'https://r.test';
const NOW = 1_800_000_000_000;
const scopeSet = fc.uniqueArray(fc.constantFrom(...SCOPES), { maxLength: SCOPES.length });
const GRANTS: GrantKind[] = ['authorization', 'backchannel', 'authorization_code', 'refresh_token', 'client_credentials', 'ciba', 'token_exchange'];

const client = (over: Partial<ClientFacts> = {}): ClientFacts => ({ id: 'agent-a', kind: 'agent', active: true, scopes: SCOPES, resources: [R], maxTokenTtl: 600, ...over });
const resource = (over: Partial<ResourceFacts> = {}): ResourceFacts => ({ identifier: R, scopes: SCOPES, approvalOnly: [], accessTokenTtl: 300, allowDynamicClients: true, ...over });
const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({
  grant: 'client_credentials',
  now: NOW,
  client: client(),
  requestedResource: R,
  resource: resource(),
  limits: { stepUpTtl: 60, maxDelegationDepth: 3 },
  ...over,
});
const subject = (scopes: string[], over: Partial<NonNullable<RequestFacts['exchange']>['subject']> = {}) => ({
  jti: 'j1', subject: 'human-1', subjectKind: 'human' as const, clientId: 'agent-a', scopes, audience: R, resource: R, actorChain: [], dpopJkt: null, expiresAt: NOW + 3_600_000, ...over,
});

const generated = fc
  .record({
    grant: fc.constantFrom(...GRANTS),
    kind: fc.constantFrom<'app' | 'agent'>('app', 'agent'),
    ceiling: scopeSet,
    defined: scopeSet,
    approvalOnly: scopeSet,
    approval: scopeSet,
    consented: scopeSet,
    fresh: scopeSet,
    subjectScopes: scopeSet,
    requested: fc.option(scopeSet, { nil: undefined }),
    requestedLifetime: fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
    maxTokenTtl: fc.option(fc.integer({ min: 1, max: 3_600 }), { nil: undefined }),
    subjectSeconds: fc.integer({ min: 0, max: 7_200 }),
  })
  .map((g) => ({
    g,
    facts: facts({
      grant: g.grant,
      client: client({ kind: g.kind, scopes: g.ceiling, maxTokenTtl: g.maxTokenTtl }),
      resource: resource({ scopes: g.defined, approvalOnly: g.approvalOnly.filter((s) => g.defined.includes(s)) }),
      requestedScopes: g.requested,
      requestedLifetime: g.requestedLifetime,
      human: g.grant === 'client_credentials' ? undefined : { id: 'human-1', active: true },
      consented: g.consented,
      fresh: g.fresh,
      approvals: [{ id: 'ap1', agentId: 'agent-a', scopes: g.approval, resources: [R], expiresAt: NOW + 86_400_000 }],
      exchange: g.grant === 'token_exchange' ? { subject: subject(g.subjectScopes, { expiresAt: NOW + g.subjectSeconds * 1000 }) } : undefined,
    }),
  }));

describe('decide', () => {
  it('never allows a scope outside resource ∩ ceiling ∩ approval (∩ subject token), on any grant (property)', () => {
    fc.assert(
      fc.property(generated, ({ g, facts: f }) => {
        const decision = decide(f);
        if (!decision.allowed) {
          expect(Object.keys(RULES)).toContain(decision.rule);
          return;
        }
        const asking = g.grant === 'authorization' || g.grant === 'backchannel';
        const freshAllowed = g.grant === 'authorization_code' || g.grant === 'ciba';
        for (const scope of decision.scopes) {
          expect(g.defined).toContain(scope);
          expect(g.ceiling).toContain(scope);
          if (g.grant === 'token_exchange') {
            expect(g.subjectScopes).toContain(scope);
            expect(g.approval).toContain(scope);
          }
          if (!asking && g.grant !== 'client_credentials' && g.grant !== 'token_exchange') {
            expect([...g.consented, ...(freshAllowed ? g.fresh : [])]).toContain(scope);
          }
          if (!asking && g.approvalOnly.includes(scope)) {
            expect(freshAllowed).toBe(true);
            expect(g.fresh).toContain(scope);
          }
        }
        expect(decision.scopes.length).toBeGreaterThan(0);
        if (g.requested) expect(new Set(decision.scopes)).toEqual(new Set(g.requested));
      }),
      { numRuns: 5_000 },
    );
  });

  it('never issues a token that outlives any limit (property)', () => {
    fc.assert(
      fc.property(generated, ({ g, facts: f }) => {
        const decision = decide(f);
        if (!decision.allowed) return;
        expect(decision.lifetime).toBeGreaterThanOrEqual(1);
        expect(decision.lifetime).toBeLessThanOrEqual(300);
        if (g.maxTokenTtl !== undefined) expect(decision.lifetime).toBeLessThanOrEqual(g.maxTokenTtl);
        if (g.requestedLifetime !== undefined) expect(decision.lifetime).toBeLessThanOrEqual(g.requestedLifetime);
        if (g.grant === 'token_exchange') expect(decision.lifetime).toBeLessThanOrEqual(g.subjectSeconds);
        if (decision.approvalOnly.length > 0) expect(decision.lifetime).toBeLessThanOrEqual(60);
      }),
      { numRuns: 3_000 },
    );
  });

  it('refuses a requested scope with the rule of the limit that removed it, never silently dropping it', () => {
    const refused = (f: RequestFacts) => {
      const d = decide(f);
      expect(d.allowed).toBe(false);
      return d as Exclude<typeof d, Allowance>;
    };
    expect(refused(facts({ requestedScopes: ['zzz'] })).rule).toBe('scope_not_defined');
    expect(refused(facts({ client: client({ scopes: ['a'] }), requestedScopes: ['a', 'b'] })).rule).toBe('scope_outside_ceiling');
    expect(refused(facts({ resource: resource({ approvalOnly: ['e'] }), requestedScopes: ['e'] })).rule).toBe('approval_required_each_time');
    expect(refused(facts({ grant: 'refresh_token', human: { id: 'h', active: true }, consented: ['a'], requestedScopes: ['b'] })).rule).toBe('scope_not_approved');
    const r = refused(facts({ client: client({ scopes: ['a'] }), requestedScopes: ['b'] }));
    expect(r.error).toBe('invalid_scope');
    expect(r.description).toMatch(/outside the scope ceiling/);
    expect(r.trail[0]).toMatchObject({ limit: 'ceiling:agent-a', removed: expect.arrayContaining(['b']) });
  });

  it('gives client credentials without scope the whole ceiling at the resource minus approval-only scopes, never an empty scope', () => {
    const d = decide(facts({ client: client({ scopes: ['a', 'b', 'e'] }), resource: resource({ approvalOnly: ['e'] }) }));
    expect(d).toMatchObject({ allowed: true, scopes: ['a', 'b'], approvalOnly: [] });
    const none = decide(facts({ client: client({ scopes: ['e'] }), resource: resource({ approvalOnly: ['e'] }) }));
    expect(none).toMatchObject({ allowed: false, rule: 'no_scope_allowed', error: 'invalid_scope' });
  });

  it('denies by default: a client without allowed resources or ceiling gets nothing', () => {
    expect(decide(facts({ client: client({ kind: 'app', resources: [], scopes: [] }) }))).toMatchObject({ allowed: false, rule: 'resource_not_allowed', error: 'invalid_target' });
    expect(decide(facts({ client: client({ kind: 'app', scopes: [] }) }))).toMatchObject({ allowed: false, rule: 'no_scope_allowed' });
    expect(decide(facts({ resource: undefined, requestedResource: 'https://nope.test' }))).toMatchObject({ allowed: false, rule: 'unknown_resource' });
  });

  it('gives approval-only scopes only to the code and CIBA grants carrying a fresh approval, for a short life', () => {
    const base = { resource: resource({ approvalOnly: ['e'] }), human: { id: 'h', active: true }, consented: ['a', 'e'], fresh: ['e'] };
    expect(decide(facts({ ...base, grant: 'ciba' }))).toMatchObject({ allowed: true, scopes: ['a', 'e'], approvalOnly: ['e'], lifetime: 60 });
    expect(decide(facts({ ...base, grant: 'authorization_code' }))).toMatchObject({ allowed: true, approvalOnly: ['e'] });
    expect(decide(facts({ ...base, grant: 'refresh_token' }))).toMatchObject({ allowed: true, scopes: ['a'], approvalOnly: [] });
    expect(decide(facts({ ...base, grant: 'refresh_token', requestedScopes: ['e'] }))).toMatchObject({ allowed: false, rule: 'approval_required_each_time' });
  });

  it('refuses a suspended client, a disabled human, and client credentials for a client that registered itself', () => {
    expect(decide(facts({ client: client({ active: false }) }))).toMatchObject({ allowed: false, rule: 'client_suspended' });
    expect(decide(facts({ grant: 'refresh_token', human: { id: 'h', active: false }, consented: ['a'] }))).toMatchObject({ allowed: false, rule: 'user_inactive' });
    expect(decide(facts({ client: client({ dynamic: true }) }))).toMatchObject({ allowed: false, rule: 'dynamic_client_needs_human' });
  });

  it('lets a dynamic client be asked about at resources that allow dynamic clients only', () => {
    const dynamic = client({ id: 'https://app.example/cimd', dynamic: true, scopes: [], resources: [] });
    expect(decide(facts({ grant: 'authorization', client: dynamic }))).toMatchObject({ allowed: true, scopes: SCOPES });
    expect(decide(facts({ grant: 'authorization', client: dynamic, resource: resource({ allowDynamicClients: false }) }))).toMatchObject({ allowed: false, rule: 'resource_not_allowed' });
  });

  it('refuses CIBA requests and exchanges from clients that are not agents', () => {
    expect(decide(facts({ grant: 'backchannel', client: client({ kind: 'app' }) }))).toMatchObject({ allowed: false, rule: 'not_an_agent' });
    expect(decide(facts({ grant: 'token_exchange', client: client({ kind: 'app' }), exchange: { subject: subject(['a']) } }))).toMatchObject({ allowed: false, rule: 'not_an_agent' });
  });

  it('checks an exchange: human subject, own token, DPoP binding, approvals of every agent in a delegation', () => {
    const x = (over: Partial<NonNullable<RequestFacts['exchange']>> = {}, top: Partial<RequestFacts> = {}) =>
      decide(facts({
        grant: 'token_exchange',
        human: { id: 'human-1', active: true },
        approvals: [{ id: 'ap1', agentId: 'agent-a', scopes: ['a', 'b'], resources: [R], expiresAt: NOW + 1 }],
        exchange: { subject: subject(['a', 'b']), ...over },
        ...top,
      }));
    expect(x()).toMatchObject({ allowed: true, scopes: ['a', 'b'], approvalId: 'ap1', actorChain: [{ sub: 'agent-a', kind: 'agent' }] });
    expect(x({ subject: subject(['a'], { subjectKind: 'agent' }) })).toMatchObject({ allowed: false, rule: 'subject_not_human' });
    expect(x({ subject: subject(['a'], { clientId: 'other', audience: R }) })).toMatchObject({ allowed: false, rule: 'subject_token_foreign' });
    expect(x({ subject: subject(['a'], { dpopJkt: 'k1' }) })).toMatchObject({ allowed: false, rule: 'dpop_binding' });
    expect(x({ subject: subject(['a'], { dpopJkt: 'k1' }), dpopJkt: 'k1' })).toMatchObject({ allowed: true });
    expect(x({}, { approvals: [] })).toMatchObject({ allowed: false, rule: 'no_approval' });
    expect(x({}, { requestedScopes: ['c'] })).toMatchObject({ allowed: false, rule: 'scope_not_in_subject' });
    const next = client({ id: 'agent-b', scopes: ['a'] });
    expect(x({ requestedAudience: 'agent-b', nextAgent: next, nextAgentApprovals: [] })).toMatchObject({ allowed: false, rule: 'no_approval' });
    expect(x({ requestedAudience: 'agent-b', nextAgent: next, nextAgentApprovals: [{ id: 'ap2', agentId: 'agent-b', scopes: ['a', 'b'], resources: [R], expiresAt: NOW + 1 }] })).toMatchObject({
      allowed: true, audience: 'agent-b', resource: R, scopes: ['a'],
    });
    expect(x({ requestedAudience: 'nobody' })).toMatchObject({ allowed: false, rule: 'unknown_audience' });
    expect(x({ requestedAudience: 'agent-a' })).toMatchObject({ allowed: false, rule: 'self_audience' });
    expect(x({ subject: subject(['a'], { expiresAt: NOW + 500 }) })).toMatchObject({ allowed: false, rule: 'subject_expired' });
  });
});

describe('targetResource', () => {
  it('defaults to the single allowed resource, allows a sign-in without one, and otherwise asks for one', () => {
    expect(targetResource(client(), undefined, 'client_credentials', false)).toBe(R);
    expect(targetResource(client(), 'https://x.test', 'client_credentials', false)).toBe('https://x.test');
    expect(targetResource(client({ resources: [] }), undefined, 'authorization', false)).toBeUndefined();
    expect(() => targetResource(client({ resources: [R, 'https://s.test'] }), undefined, 'client_credentials', true)).toThrow(PolicyRefusal);
    expect(() => targetResource(client({ resources: [] }), undefined, 'client_credentials', false)).toThrow(/no allowed resource/);
  });
});

describe('nextActorChain', () => {
  const agent = (sub: string) => ({ sub, kind: 'agent' as const });

  it('puts the caller in front, keeps the chain when the current actor re-exchanges, refuses cycles and depth', () => {
    expect(nextActorChain([agent('A')], 'B', 3)).toEqual([agent('B'), agent('A')]);
    expect(nextActorChain([agent('B'), agent('A')], 'B', 3)).toEqual([agent('B'), agent('A')]);
    expect(() => nextActorChain([agent('B'), agent('A')], 'A', 5)).toThrow(/loop/);
    expect(() => nextActorChain([agent('C'), agent('B'), agent('A')], 'D', 3)).toThrow(/limited to 3/);
  });

  it('never yields a chain with a repeated agent or beyond the limit (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom('A', 'B', 'C', 'D', 'E'), { maxLength: 5 }), fc.constantFrom('A', 'B', 'C', 'D', 'E'), fc.integer({ min: 1, max: 5 }), (chain, caller, max) => {
        try {
          const next = nextActorChain(chain.map(agent), caller, max);
          expect(new Set(next.map((a) => a.sub)).size).toBe(next.length);
          expect(next[0]!.sub).toBe(caller);
          if (next.length > chain.length) expect(next.length).toBeLessThanOrEqual(max);
        } catch (error) {
          expect(error).toBeInstanceOf(PolicyRefusal);
        }
      }),
    );
  });
});

describe('standingApprovalProblems', () => {
  it('refuses approval-only scopes, scopes outside the ceiling and resources outside the audiences in a standing approval', () => {
    const problems = standingApprovalProblems(client({ scopes: ['a', 'e'] }), [
      { identifier: R, facts: resource({ approvalOnly: ['e'] }) },
      { identifier: 'https://other.test', facts: resource({ identifier: 'https://other.test' }) },
    ], ['a', 'b', 'e']);
    expect(problems).toEqual([
      { path: 'resources.1', message: "https://other.test is not among the agent's audiences" },
      { path: 'scopes.1', message: "b is outside the agent's scope ceiling" },
      { path: 'scopes.2', message: 'e requires a fresh approval for each token and is never part of a standing approval' },
    ]);
  });
});

describe('ID-JAG redemption (grant id_jag)', () => {
  const assertion = (over: Partial<NonNullable<RequestFacts['assertion']>> = {}): NonNullable<RequestFacts['assertion']> => ({
    issuer: 'https://idp.test', clientId: 'agent-a', scopes: ['a', 'b'], resources: [R], allowedClients: [], allowedResources: [], ...over,
  });
  const redemption = (over: Partial<RequestFacts> = {}) => facts({ grant: 'id_jag', human: { id: 'human-1', active: true }, assertion: assertion(), ...over });

  it('allows requested ∩ ID-JAG ∩ ceiling, acting as the agent for the human, never an approval-only scope', () => {
    const allowed = decide(redemption({ client: client({ scopes: ['a', 'c'] }), resource: resource({ approvalOnly: ['c'] }) }));
    expect(allowed).toMatchObject({ allowed: true, scopes: ['a'], actorChain: [{ sub: 'agent-a', kind: 'agent' }] });
    expect(decide(redemption({ requestedScopes: ['b'] }))).toMatchObject({ allowed: true, scopes: ['b'] });
    expect(decide(redemption({ requestedScopes: ['c'] }))).toMatchObject({ allowed: false, rule: 'scope_not_approved' });
    expect(decide(redemption({ requestedScopes: ['a'], assertion: assertion({ scopes: undefined }), resource: resource({ approvalOnly: ['a'] }) }))).toMatchObject({ allowed: false, rule: 'approval_required_each_time' });
  });

  it('refuses what the draft and the trust configuration forbid, each with its rule', () => {
    const cases: Array<[Partial<RequestFacts>, string]> = [
      [{ assertion: assertion({ clientId: 'agent-b' }) }, 'assertion_client_mismatch'],
      [{ assertion: assertion({ allowedClients: ['agent-b'] }) }, 'assertion_client_mismatch'],
      [{ assertion: assertion({ resources: ['https://other.test'] }) }, 'assertion_resource_mismatch'],
      [{ assertion: assertion({ allowedResources: ['https://other.test'] }) }, 'assertion_resource_mismatch'],
      [{ human: undefined }, 'subject_unknown'],
      [{ human: { id: 'human-1', active: false } }, 'user_inactive'],
      [{ client: client({ publicClient: true }) }, 'confidential_client_required'],
      [{ client: client({ kind: 'app' }) }, 'not_an_agent'],
      [{ resource: resource({ authorizationServer: 'https://as.other.test' }) }, 'remote_resource'],
    ];
    for (const [over, rule] of cases) expect(decide(redemption(over))).toMatchObject({ allowed: false, rule });
  });
});

describe('remote resources (served by another authorization server)', () => {
  const remote = resource({ authorizationServer: 'https://as.other.test' });
  const idJagExchange = (over: Partial<NonNullable<RequestFacts['exchange']>> = {}) => facts({
    grant: 'token_exchange',
    resource: remote,
    human: { id: 'human-1', active: true },
    approvals: [{ id: 'ap1', agentId: 'agent-a', scopes: ['a', 'b'], resources: [R], expiresAt: NOW + 3_600_000 }],
    exchange: { subject: subject([], { audience: null, resource: null }), issue: 'id_jag', requestedAudience: 'https://as.other.test', ...over },
  });

  it('get no access token of this server from any grant, yet a human may be asked to approve an agent there', () => {
    for (const grant of ['client_credentials', 'authorization_code', 'refresh_token', 'ciba'] as GrantKind[]) {
      expect(decide(facts({ grant, resource: remote, human: { id: 'human-1', active: true }, consented: SCOPES }))).toMatchObject({ allowed: false, rule: 'remote_resource' });
    }
    expect(decide(facts({ grant: 'authorization', resource: remote }))).toMatchObject({ allowed: true });
    expect(targetResource(client(), undefined, 'authorization_code', false, { defaultIsRemote: true })).toBeUndefined();
  });

  it('get an ID-JAG addressed to their server, bounded by the human approval and the ceiling (an ID token carries no scopes)', () => {
    expect(decide(idJagExchange())).toMatchObject({ allowed: true, audience: 'https://as.other.test', scopes: ['a', 'b'], approvalId: 'ap1' });
    expect(decide(idJagExchange({ requestedAudience: 'https://elsewhere.test' }))).toMatchObject({ allowed: false, rule: 'remote_resource' });
    expect(decide({ ...idJagExchange(), approvals: [] })).toMatchObject({ allowed: false, rule: 'no_approval' });
    expect(decide({ ...idJagExchange(), resource: resource() })).toMatchObject({ allowed: false, rule: 'remote_resource' });
  });
});
