// Verification of this server's own JWTs without a network round trip: a jose key set over the public keys currently
// published, rebuilt only when the key set changes (rotation replaces the object).
import { createLocalJWKSet, type JSONWebKeySet } from 'jose';

export type PublicJwks = { keys: readonly object[] };

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
