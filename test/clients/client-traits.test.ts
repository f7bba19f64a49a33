// The plain facts about a client that the policy module reads (src/clients/client-traits.ts): whether it arrived by
// itself, is public, and has only loopback redirects, from stored metadata or from oidc-provider's client instance.
import { clientTraits, isLoopbackRedirect } from '../../src/clients/client-traits.js';

it('tells a self-arriving public client with loopback-only redirects from an admin-registered web app', () => {
  expect(clientTraits({ agent_origin: 'cimd', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb', 'http://[::1]/cb', 'http://localhost:9/cb'] }))
    .toEqual({ origin: 'cimd', dynamic: true, publicClient: true, loopbackOnly: true });
  expect(clientTraits({ tokenEndpointAuthMethod: 'client_secret_basic', redirectUris: ['https://app.example/cb', 'http://127.0.0.1/cb'] }))
    .toEqual({ origin: 'admin', dynamic: false, publicClient: false, loopbackOnly: false });
  expect(clientTraits({ agent_origin: 'dcr', tokenEndpointAuthMethod: 'none', redirectUris: [] })).toMatchObject({ dynamic: true, loopbackOnly: false });
  expect(clientTraits({ agent_origin: 'something-else' }).origin).toBe('admin');
});

it('counts http and https redirects to loopback hosts as loopback, nothing else', () => {
  expect(isLoopbackRedirect('http://127.0.0.1:4000/callback')).toBe(true);
  expect(isLoopbackRedirect('https://127.0.0.1/callback')).toBe(true);
  expect(isLoopbackRedirect('http://127.0.0.2/callback')).toBe(false);
  expect(isLoopbackRedirect('http://localhost.example.com/callback')).toBe(false);
  expect(isLoopbackRedirect('com.example.app:/callback')).toBe(false);
});
