// The delegation rules on their own, including properties checked on generated inputs (fast-check): whatever is
// asked, an issued token never carries a scope outside the intersection of everything that must allow it, and
// never outlives its subject.
import fc from 'fast-check';
import { ExchangeRefusal, grantableScopes, nextActorChain, tokenLifetime, type ScopeFacts } from '../../src/delegation/exchange-policy.js';

const SCOPES = ['a', 'b', 'c', 'd', 'e', 'f'];
const scopeSet = fc.uniqueArray(fc.constantFrom(...SCOPES), { maxLength: SCOPES.length });

const facts = fc.record({
  requested: fc.option(scopeSet, { nil: undefined }),
  subject: scopeSet,
  ceilings: fc.array(fc.record({ agent: fc.constantFrom('A', 'B'), scopes: scopeSet }), { minLength: 1, maxLength: 2 }),
  approvals: fc.array(fc.record({ agent: fc.constantFrom('A', 'B'), scopes: scopeSet }), { minLength: 1, maxLength: 2 }),
  resource: fc.record({ identifier: fc.constant('https://r.test'), scopes: scopeSet, requiresApproval: scopeSet }),
}) satisfies fc.Arbitrary<ScopeFacts>;

function intersection(f: ScopeFacts): Set<string> {
  return new Set(
    f.subject.filter(
      (s) =>
        f.resource.scopes.includes(s) &&
        !f.resource.requiresApproval.includes(s) &&
        f.ceilings.every((c) => c.scopes.includes(s)) &&
        f.approvals.every((a) => a.scopes.includes(s)),
    ),
  );
}

describe('grantableScopes', () => {
  it('never grants a scope outside the intersection of subject, ceilings, approvals and resource (property)', () => {
    fc.assert(
      fc.property(facts, (f) => {
        const allowed = intersection(f);
        let granted: string[];
        try {
          granted = grantableScopes(f);
        } catch (error) {
          expect(error).toBeInstanceOf(ExchangeRefusal);
          // Refused only when something asked for is not allowed, or nothing is allowed at all.
          if (f.requested) expect(f.requested.some((s) => !allowed.has(s))).toBe(true);
          else expect(allowed.size).toBe(0);
          return;
        }
        for (const scope of granted) expect(allowed.has(scope)).toBe(true);
        if (f.requested) expect(new Set(granted)).toEqual(new Set(f.requested));
        else expect(new Set(granted)).toEqual(allowed);
      }),
      { numRuns: 2_000 },
    );
  });

  it('refuses rather than silently drops a scope that is not allowed, naming why', () => {
    const f: ScopeFacts = {
      requested: ['a', 'b'],
      subject: ['a', 'b'],
      ceilings: [{ agent: 'A', scopes: ['a', 'b'] }],
      approvals: [{ agent: 'A', scopes: ['a'] }],
      resource: { identifier: 'https://r.test', scopes: ['a', 'b'], requiresApproval: [] },
    };
    expect(() => grantableScopes(f)).toThrow(/not approved b/);
  });

  it('never covers a requires_approval scope from a standing approval', () => {
    const f: ScopeFacts = {
      requested: undefined,
      subject: ['a', 'x'],
      ceilings: [{ agent: 'A', scopes: ['a', 'x'] }],
      approvals: [{ agent: 'A', scopes: ['a', 'x'] }],
      resource: { identifier: 'https://r.test', scopes: ['a', 'x'], requiresApproval: ['x'] },
    };
    expect(grantableScopes(f)).toEqual(['a']);
    expect(() => grantableScopes({ ...f, requested: ['x'] })).toThrow(/fresh approval/);
  });
});

describe('tokenLifetime', () => {
  it('never outlives the subject token nor any limit (property)', () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
        fc.array(fc.integer({ min: 30, max: 3600 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 30, max: 3600 }),
        fc.double({ min: 1, max: 100_000, noNaN: true }),
        (requested, agentMaximums, resourceTtl, subjectRemaining) => {
          const lifetime = tokenLifetime({ requested, agentMaximums, resourceTtl, subjectRemaining });
          expect(lifetime).toBeLessThanOrEqual(subjectRemaining);
          expect(lifetime).toBeLessThanOrEqual(resourceTtl);
          for (const max of agentMaximums) expect(lifetime).toBeLessThanOrEqual(max);
          if (requested !== undefined) expect(lifetime).toBeLessThanOrEqual(requested);
          expect(lifetime).toBeGreaterThanOrEqual(1);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('refuses a subject with less than a second left', () => {
    expect(() => tokenLifetime({ agentMaximums: [300], resourceTtl: 300, subjectRemaining: 0.5 })).toThrow(ExchangeRefusal);
  });
});

describe('nextActorChain', () => {
  const agent = (sub: string) => ({ sub, kind: 'agent' as const });

  it('puts the caller in front of the chain', () => {
    expect(nextActorChain([agent('A')], 'B', 3)).toEqual([agent('B'), agent('A')]);
  });

  it('keeps the chain when the current actor re-exchanges', () => {
    expect(nextActorChain([agent('B'), agent('A')], 'B', 3)).toEqual([agent('B'), agent('A')]);
  });

  it('refuses a cycle and a chain deeper than the limit', () => {
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
          expect(error).toBeInstanceOf(ExchangeRefusal);
        }
      }),
    );
  });
});
