// The keys oidc-provider signs with. oidc-provider signs a JWT with jose, and jose 6 signs through WebCrypto: each
// signature is a promise dispatched to libuv's thread pool, which on this server's hot path (every access token is an
// ES256 JWT) cost ~64 µs of CPU a signature plus its dispatch on the event loop, on a machine whose two cores the event
// loop, PostgreSQL and the load share. Node's own OpenSSL binding signs the same message with the same key in ~52 µs,
// on the event loop, with no thread hop (measured side by side here; the floor study in
// ../shared/notes/performance.md found 78 and 35 µs on a faster machine).
//
// oidc-provider's seam for this is `ExternalSigningKey` (features.externalSigningSupport, made for KMS and HSM
// signers): it builds the JWS header and payload, hands us the signing input, and joins our signature to it. The
// algorithm, the key, the header (alg, typ, kid) and the token format are exactly what they were; only the library
// call that computes the signature changes. The key's public half is published at jwks_uri as before.
import { createPrivateKey, createPublicKey, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { ExternalSigningKey, type JWK } from 'oidc-provider';

/** JWS algorithms Node signs directly, with the digest each uses (RFC 7518 §3.4; RFC 8037 §3.1 signs unhashed). */
const NODE_SIGNED: Record<string, { crv: string; digest: string | null }> = {
  ES256: { crv: 'P-256', digest: 'sha256' },
  ES384: { crv: 'P-384', digest: 'sha384' },
  ES512: { crv: 'P-521', digest: 'sha512' },
  EdDSA: { crv: 'Ed25519', digest: null },
  Ed25519: { crv: 'Ed25519', digest: null },
};

/**
 * The feature that lets oidc-provider take such keys. It is an experiment of oidc-provider 9: the ack names the version
 * implemented, and oidc-provider refuses to start when an upgrade changes it (the tests start it), so a changed seam
 * cannot go unnoticed.
 */
export const EXTERNAL_SIGNING_FEATURE = { externalSigningSupport: { enabled: true, ack: 'experimental-01' } };

/** A private JWK that signs through node:crypto; oidc-provider reads its public members and kid/alg from it. */
export class NodeSigningKey extends ExternalSigningKey {
  readonly #private: KeyObject;
  readonly #public: KeyObject;
  readonly #digest: string | null;
  readonly #kid: string;
  readonly #alg: string;

  constructor(jwk: JWK & { alg: string; kid: string }) {
    super();
    const algorithm = NODE_SIGNED[jwk.alg];
    if (!algorithm || jwk.crv !== algorithm.crv) throw new TypeError(`${jwk.alg} with ${String(jwk.crv)} is not signed by node:crypto here`);
    this.#kid = jwk.kid;
    this.#alg = jwk.alg;
    this.#digest = algorithm.digest;
    this.#private = createPrivateKey({ key: { ...jwk } as JsonWebKey, format: 'jwk' });
    this.#public = createPublicKey(this.#private);
  }

  override get kid(): string {
    return this.#kid;
  }

  override get alg(): string {
    return this.#alg;
  }

  override keyObject(): KeyObject {
    return this.#public;
  }

  /** The JWS signature over the signing input: for ECDSA the fixed-size R || S form JWS requires (RFC 7518 §3.4). */
  override sign(data: Uint8Array): Uint8Array {
    return sign(this.#digest, data, { key: this.#private, dsaEncoding: 'ieee-p1363' });
  }
}

/**
 * The key set for oidc-provider's `jwks`: a key that may sign (no key_ops, or key_ops with "sign") of an algorithm
 * Node signs becomes a NodeSigningKey; every other key (published for verification only, or of another algorithm)
 * stays the JWK it was.
 */
export function providerSigningKeys(keys: readonly JWK[]): Array<JWK | ExternalSigningKey> {
  return keys.map((jwk) => {
    const signs = jwk.key_ops === undefined || jwk.key_ops.includes('sign');
    const { alg, kid } = jwk;
    if (!signs || typeof alg !== 'string' || typeof kid !== 'string' || typeof jwk.d !== 'string' || !NODE_SIGNED[alg]) return jwk;
    return new NodeSigningKey({ ...jwk, alg, kid });
  });
}
