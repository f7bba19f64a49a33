// Human passwords: argon2id hashes (the argon2 library's defaults: m=64 MiB, t=3, p=4). Verification costs
// ~95 ms here, which is why it appears on the login page only, never on the token endpoint.
import argon2 from 'argon2';

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the same time as a real verification, for logins naming no (active) user, so that response times do not
 * tell which usernames exist.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword('agentauth dummy password, never valid');
  await verifyPassword(await dummyHash, password);
  return false;
}
