// Authenticated encryption of key material at rest: AES-256-GCM, random 96-bit nonce, caller-chosen associated
// data (the key's id) so a ciphertext only opens in the row it was written for. Layout: nonce | ciphertext | tag.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const NONCE = 12;
const TAG = 16;

export function seal(kek: Buffer, plaintext: Buffer, associatedData: string): Uint8Array<ArrayBuffer> {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  // A plain ArrayBuffer-backed copy: what Prisma's Bytes columns accept.
  return new Uint8Array(Buffer.concat([nonce, body, cipher.getAuthTag()]));
}

export class UnsealError extends Error {
  override name = 'UnsealError';
}

export function open(kek: Buffer, sealed: Uint8Array, associatedData: string): Buffer {
  const box = Buffer.from(sealed);
  if (box.length < NONCE + TAG) throw new UnsealError('sealed box too short');
  const decipher = createDecipheriv('aes-256-gcm', kek, box.subarray(0, NONCE));
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(box.subarray(box.length - TAG));
  try {
    return Buffer.concat([decipher.update(box.subarray(NONCE, box.length - TAG)), decipher.final()]);
  } catch {
    throw new UnsealError(`cannot decrypt key ${associatedData}: wrong AGENTAUTH_KEK or tampered data`);
  }
}
