// Verification of this server's own JWTs without a network round trip: a jose key set over the public keys currently
// published, rebuilt only when the key set changes (rotation replaces the object), and a verifier that remembers the
// tokens it verified while that key set stands.
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyOptions } from 'jose';

export type PublicJwks = { keys: readonly object[] };

/**
 * Three dot-separated parts: the compact form of a JWS, which only verification can tell is one of ours. This server's
 * opaque tokens have no dots. The shape alone decides which reading a presented token gets (decoding its header
 * first cost introspection ~4% of its CPU); a string of this shape that is not a JWT of ours fails verification.
 */
export const isCompactJws = (token: string): boolean => token.split('.').length === 3;

export function localJwks(current: () => PublicJwks): () => ReturnType<typeof createLocalJWKSet> {
  let seen: PublicJwks | undefined;
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  return () => {
    const jwks = current();
    if (jwks !== seen || !keySet) {
      seen = jwks;
      keySet = createLocalJWKSet(jwks as JSONWebKeySet);
    }
    return keySet;
  };
}

/** Verified tokens a verifier remembers at most (the oldest is forgotten first). */
const REMEMBERED = 10_000;

/**
 * `jwtVerify` against the current key set for one use (fixed options), remembering what it verified: an agent
 * presents the same human token at exchange after exchange, a resource server introspects the same token on every
 * call, and each verification is an ECDSA verify. Whether a given token verifies cannot change while the key set is
 * the same, except by time: a remembered token is answered only while unexpired (otherwise verified again, which
 * refuses it as expired), and the whole memory is dropped when the key set changes (a rotation may retire a key).
 * Failures are never remembered. Revocation is not a property of the JWT: callers read it from the token's record on
 * every use, so remembering the signature check does not delay it.
 */
export function rememberingVerifier(current: () => PublicJwks, options: JWTVerifyOptions, limit = REMEMBERED): (token: string) => Promise<JWTPayload> {
  const keys = localJwks(current);
  let forKeys: ReturnType<typeof createLocalJWKSet> | undefined;
  const verified = new Map<string, JWTPayload>();
  return async (token) => {
    const keySet = keys();
    if (keySet !== forKeys) {
      verified.clear();
      forKeys = keySet;
    }
    const known = verified.get(token);
    if (known && (typeof known.exp !== 'number' || known.exp > Date.now() / 1000)) return known;
    verified.delete(token);
    // Frozen: every caller of this verifier shares the object.
    const payload = Object.freeze((await jwtVerify(token, keySet, options)).payload);
    if (verified.size >= limit) verified.delete(verified.keys().next().value!);
    verified.set(token, payload);
    return payload;
  };
}
