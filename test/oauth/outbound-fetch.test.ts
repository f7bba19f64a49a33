// The guard on every fetch oidc-provider makes for a client (metadata documents, jwks_uri): https only, and no
// private, link-local, loopback or other special-use address, whether named literally or reached through DNS;
// loopback only when the development switch allows it. Also end to end: a server without the switch never fetches
// a metadata document from a loopback address.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { classifyAddress, outboundFetch, RefusedAddressError } from '../../src/oauth/outbound-fetch.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startDocumentServer, type DocumentServer } from '../support/metadata-documents.js';

describe('address classification', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.1.2.3', 'special-use'],
    ['172.16.0.1', 'special-use'],
    ['192.168.1.1', 'special-use'],
    ['169.254.169.254', 'special-use'],
    ['100.64.0.1', 'special-use'],
    ['0.0.0.0', 'special-use'],
    ['fe80::1', 'special-use'],
    ['fd00::1', 'special-use'],
    ['::ffff:10.0.0.1', 'special-use'],
    ['::', 'special-use'],
    ['not-an-ip', 'special-use'],
  ])('%s is %s', (address, verdict) => {
    expect(classifyAddress(address)).toBe(verdict);
  });
});

describe('the fetch hook', () => {
  const guarded = outboundFetch({ allowLoopback: false });

  it.each([
    'https://127.0.0.1/client.json',
    'https://[::1]/client.json',
    'https://10.0.0.1/client.json',
    'https://169.254.169.254/latest/meta-data',
    'https://192.168.0.10/client.json',
    'https://localhost/client.json',
  ])('refuses %s before connecting', async (url) => {
    await expect(guarded(url, { method: 'GET' })).rejects.toBeInstanceOf(RefusedAddressError);
  });

  it('refuses plain http even to a public address', async () => {
    await expect(guarded('http://8.8.8.8/client.json', { method: 'GET' })).rejects.toThrow('https only');
  });

  it('never connects to a loopback listener when loopback is not allowed, and does with the switch on', async () => {
    let connections = 0;
    const listener = http.createServer().on('connection', (socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as AddressInfo;
    try {
      await expect(guarded(`https://localhost:${port}/x`, { method: 'GET' })).rejects.toBeInstanceOf(RefusedAddressError);
      expect(connections).toBe(0);
      const allowed = outboundFetch({ allowLoopback: true });
      // Reaches the listener (which hangs up: it speaks no TLS), so the refusal above was the guard's.
      await expect(allowed(`https://127.0.0.1:${port}/x`, { method: 'GET' })).rejects.not.toBeInstanceOf(RefusedAddressError);
      expect(connections).toBe(1);
    } finally {
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    }
  });
});

describe('a server without AGENTAUTH_CIMD_ALLOW_LOOPBACK', () => {
  let server: TestServer;
  let documents: DocumentServer;
  beforeAll(async () => {
    [server, documents] = await Promise.all([startTestServer(), startDocumentServer()]);
    await server.stores.resources.create({ identifier: 'https://mcp.example.test/mcp', name: 'MCP', scopes: [{ name: 'tools:call', description: 'Use the tools' }] });
  });
  afterAll(async () => {
    await Promise.all([server.stop(), documents.close()]);
  });

  it('refuses a client whose metadata document is on a loopback address, without fetching it', async () => {
    const clientId = documents.publish('/clients/local.json', {
      client_id: `${documents.origin}/clients/local.json`,
      client_name: 'Local',
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/callback'],
      token_endpoint_auth_method: 'none',
    });
    const params = new URLSearchParams({
      client_id: clientId,
      redirect_uri: 'http://127.0.0.1:4000/callback',
      response_type: 'code',
      scope: 'tools:call',
      resource: 'https://mcp.example.test/mcp',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    const response = await fetch(`${server.issuer}/auth?${params}`, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(/<p role="alert">([^<]*)</.exec(await response.text())?.[1]).toBe('client_id metadata document fetch failed');
    expect(documents.fetches('/clients/local.json')).toBe(0);
  });
});
