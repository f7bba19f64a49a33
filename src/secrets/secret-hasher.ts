// Secrets the server generates (client secrets, admin keys, refresh tokens and other bearer handles) carry 256 bits
// of randomness, so a slow password hash would buy nothing: they are stored as HMAC-SHA-256 under a server key
// derived from the KEK (never stored in the database) and compared in constant time.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

const SECRET_BYTES = 32;

export type SecretHasher = {
  /** `hmac-sha256:<base64url>`: what is stored in place of the secret. */
  hash(secret: string): string;
  /** Constant-time comparison of a presented secret with a stored hash. */
  verify(secret: string, stored: string): boolean;
};

export function createSecretHasher(kek: Buffer): SecretHasher {
  const key = Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'agentauth secret hashing v1', 32));
  const hash = (secret: string) => `hmac-sha256:${createHmac('sha256', key).update(secret, 'utf8').digest('base64url')}`;
  return {
    hash,
    verify(secret, stored) {
      const presented = Buffer.from(hash(secret));
      const expected = Buffer.from(stored);
      return presented.length === expected.length && timingSafeEqual(presented, expected);
    },
  };
}

/** A new high-entropy secret, with a short prefix that tells a human (and secret scanners) what it is. */
export function generateSecret(prefix: string): string {
  return `${prefix}_${randomBytes(SECRET_BYTES).toString('base64url')}`;
}
