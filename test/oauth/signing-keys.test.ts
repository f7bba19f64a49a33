// The signing key oidc-provider signs with through node:crypto (src/oauth/signing-keys.ts): a signature is a valid JWS
// signature of the algorithm the key names, oidc-provider publishes the same public key set as with the plain JWK, and
// a token it issues (real HTTP, an in-memory oidc-provider) verifies against that key set with jose; keys that must
// not sign, or whose algorithm Node is not asked to sign, stay JWKs.
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify, type JWK } from 'jose';
import Provider, { type Adapter, type AdapterPayload, type JWK as ProviderJwk } from 'oidc-provider';
import { EXTERNAL_SIGNING_FEATURE, NodeSigningKey, providerSigningKeys } from '../../src/oauth/signing-keys.js';

const RESOURCE = 'https://files.example.test';

async function privateJwk(alg: 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'RS256', kid: string): Promise<ProviderJwk> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  return { ...(await exportJWK(privateKey)), alg, kid, use: 'sig' } as ProviderJwk;
}

/** oidc-provider's storage here: a map (without an adapter it warns that it falls back to its development store). */
const stored = new Map<string, AdapterPayload>();
class MemoryAdapter implements Adapter {
  constructor(private readonly model: string) {}
  async upsert(id: string, payload: AdapterPayload) {
    stored.set(`${this.model}:${id}`, payload);
  }
  async find(id: string) {
    return stored.get(`${this.model}:${id}`);
  }
  async findByUserCode() {
    return undefined;
  }
  async findByUid() {
    return undefined;
  }
  async consume() {}
  async destroy(id: string) {
    stored.delete(`${this.model}:${id}`);
  }
  async revokeByGrantId() {}
}

const publicOf = ({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rest }: Record<string, unknown>) => rest as JWK;

it.each(['ES256', 'ES384', 'ES512', 'EdDSA'] as const)('signs %s: a JWS over the signing input that jose verifies with the public key', async (alg) => {
  const jwk = await privateJwk(alg, `k-${alg}`);
  const key = new NodeSigningKey(jwk as ProviderJwk & { alg: string; kid: string });
  expect(key.kid).toBe(`k-${alg}`);
  expect(key.alg).toBe(alg);
  expect(key.keyObject().type).toBe('public');
  const header = Buffer.from(JSON.stringify({ alg, kid: key.kid })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ sub: 'someone' })).toString('base64url');
  const signature = Buffer.from(key.sign(Buffer.from(`${header}.${payload}`)));
  // ECDSA in JWS is R || S, each of the curve's size (RFC 7518 §3.4), not DER.
  expect(signature.length).toBe({ ES256: 64, ES384: 96, ES512: 132, EdDSA: 64 }[alg]);
  const verified = await compactVerify(`${header}.${payload}.${signature.toString('base64url')}`, await importJWK(publicOf(jwk as Record<string, unknown>), alg));
  expect(JSON.parse(Buffer.from(verified.payload).toString())).toEqual({ sub: 'someone' });
  // Tampered input does not verify against that signature.
  await expect(
    compactVerify(`${header}.${Buffer.from('{"sub":"other"}').toString('base64url')}.${signature.toString('base64url')}`, await importJWK(publicOf(jwk as Record<string, unknown>), alg)),
  ).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
});

it('wraps only a key that may sign with an algorithm Node signs; published-only and other keys stay JWKs', async () => {
  const current = await privateJwk('ES256', 'current');
  const next = { ...(await privateJwk('ES256', 'next')), key_ops: ['verify'] };
  const rsa = await privateJwk('RS256', 'rsa');
  const [a, b, c] = providerSigningKeys([current, next, rsa]);
  expect(a).toBeInstanceOf(NodeSigningKey);
  expect(b).toBe(next);
  expect(c).toBe(rsa);
  // A public key (no d) cannot sign either way.
  const publicOnly = publicOf(current as Record<string, unknown>) as ProviderJwk;
  expect(providerSigningKeys([publicOnly])[0]).toBe(publicOnly);
  // A key whose curve is not its algorithm's is refused, not signed with the wrong digest.
  expect(() => new NodeSigningKey({ ...current, alg: 'ES384', kid: 'mismatch' } as ProviderJwk & { alg: string; kid: string })).toThrow(/ES384/);
});

describe('inside oidc-provider', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  async function issuerWith(keys: ProviderJwk[], external: boolean): Promise<string> {
    server = createServer();
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const provider = new Provider(issuer, {
      adapter: MemoryAdapter,
      jwks: { keys: external ? providerSigningKeys(keys) : keys },
      clients: [{ client_id: 'app', client_secret: 'app-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
      clientDefaults: { id_token_signed_response_alg: 'ES256' },
      enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
      ttl: { ClientCredentials: () => 300 },
      features: {
        ...(external ? EXTERNAL_SIGNING_FEATURE : {}),
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({ scope: 'files:read', accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'ES256' } } }),
        },
      },
    });
    server.on('request', provider.callback());
    return issuer;
  }

  async function token(issuer: string): Promise<string> {
    const response = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('app:app-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'files:read', resource: RESOURCE }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  const jwksOf = async (issuer: string) => (await (await fetch(`${issuer}/jwks`)).json()) as { keys: JWK[] };

  it('publishes the key set it would publish for the plain JWKs, and its tokens verify against it', async () => {
    const keys = [await privateJwk('ES256', 'current'), { ...(await privateJwk('ES256', 'next')), key_ops: ['verify'] }];
    const plain = await jwksOf(await issuerWith(keys, false));
    await new Promise((resolve) => server!.close(resolve));
    const issuer = await issuerWith(keys, true);
    const published = await jwksOf(issuer);
    expect(published).toEqual(plain);
    expect(published.keys.map((k) => k.kid)).toEqual(['current', 'next']);
    expect(JSON.stringify(published)).not.toMatch(/"d"/);

    const jwt = await token(issuer);
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: 'current' });
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(published), { issuer, audience: RESOURCE, typ: 'at+jwt' });
    expect(payload).toMatchObject({ client_id: 'app', scope: 'files:read' });
    // Not signed by the published-only key: the next key does not verify it.
    const nextOnly = createLocalJWKSet({ keys: published.keys.filter((k) => k.kid === 'next').map((k) => ({ ...k, kid: 'current' })) });
    await expect(jwtVerify(jwt, nextOnly)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });
});
