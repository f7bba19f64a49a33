// The ceiling rule on its own (src/policy/decide.ts ceilingProblems), which the admin API and CLI apply to apps'
// resources/scopes and agents' audiences/scopes when they are saved; and the property that ties it to decisions: a
// ceiling it accepts lets client credentials issue exactly the ceiling's scopes at each allowed resource.
import fc from 'fast-check';
import { ceilingProblems, decide } from '../../src/policy/decide.js';
import type { ResourceFacts } from '../../src/policy/facts.js';

const FILES: ResourceFacts = { identifier: 'https://files.test', scopes: ['files:read', 'files:write'], approvalOnly: [], accessTokenTtl: 300, allowDynamicClients: true };
const MAIL: ResourceFacts = { identifier: 'https://mail.test', scopes: ['mail:send'], approvalOnly: [], accessTokenTtl: 300, allowDynamicClients: true };
const registered = (...list: ResourceFacts[]) => list.map((facts) => ({ identifier: facts.identifier, facts }));

it('accepts scopes defined by any of the allowed resources, and an empty ceiling', () => {
  expect(ceilingProblems(registered(FILES, MAIL), ['files:read', 'mail:send'], { field: 'resources' })).toEqual([]);
  expect(ceilingProblems([], [], { field: 'resources' })).toEqual([]);
});

it('names each unregistered resource and each undefined scope by index, under the caller’s field name', () => {
  const problems = ceilingProblems([...registered(FILES), { identifier: 'https://nowhere.test', facts: undefined }], ['files:read', 'mail:send'], { field: 'audiences' });
  expect(problems).toEqual([
    { path: 'audiences.1', message: 'https://nowhere.test is not a registered resource server' },
    { path: 'scopes.1', message: expect.stringMatching(/^mail:send is not defined by any of the audiences/) },
  ]);
  expect(ceilingProblems([], ['files:read'], { field: 'resources' })).toEqual([{ path: 'scopes.0', message: expect.stringContaining('none named') }]);
});

it('lets exempt scopes (OpenID Connect’s) through without a resource', () => {
  expect(ceilingProblems([], ['openid', 'profile'], { field: 'resources', exempt: ['openid', 'profile'] })).toEqual([]);
  expect(ceilingProblems([], ['openid'], { field: 'resources' })).toHaveLength(1);
});

it('accepts exactly the ceilings under which client credentials issue the ceiling at each allowed resource', () => {
  const all = [FILES, MAIL];
  fc.assert(
    fc.property(fc.subarray(all), fc.subarray(['files:read', 'files:write', 'mail:send', 'other:scope']), (resources, scopes) => {
      const accepted = ceilingProblems(registered(...resources), scopes, { field: 'resources' }).length === 0;
      const defined = resources.flatMap((r) => r.scopes);
      expect(accepted).toBe(scopes.every((s) => defined.includes(s)));
      if (!accepted) return;
      const client = { id: 'app', kind: 'app' as const, active: true, scopes, resources: resources.map((r) => r.identifier) };
      for (const resource of all) {
        const decision = decide({ grant: 'client_credentials', now: 0, client, requestedResource: resource.identifier, resource, limits: { stepUpTtl: 60, maxDelegationDepth: 3 } });
        const expected = resources.includes(resource) ? scopes.filter((s) => resource.scopes.includes(s)) : [];
        if (expected.length === 0) expect(decision.allowed).toBe(false);
        else expect(decision).toMatchObject({ allowed: true, scopes: expected });
      }
    }),
  );
});
