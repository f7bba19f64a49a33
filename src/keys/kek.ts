// The key-encryption key (KEK) that protects signing and cookie keys at rest. It never enters the database:
// it comes from AGENTAUTH_KEK, or for the embedded default from a file generated beside the embedded data.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config.js';

const KEK_BYTES = 32;

/** Accepts 32 bytes as base64url/base64 (43/44 characters) or hex (64 characters). */
export function parseKek(text: string): Buffer {
  const trimmed = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64url');
  if (bytes.length !== KEK_BYTES) {
    throw new ConfigError(`AGENTAUTH_KEK must be ${KEK_BYTES} bytes, base64url or hex encoded (generate one with: npx agentauth kek generate)`);
  }
  return bytes;
}

/** A new KEK as AGENTAUTH_KEK takes it: 32 random bytes, base64url. */
export function generateKek(): string {
  return randomBytes(KEK_BYTES).toString('base64url');
}

export async function loadKek(configured: string | undefined, dataDir: string): Promise<Buffer> {
  if (configured !== undefined) return parseKek(configured);
  const file = path.join(dataDir, 'kek');
  if (!existsSync(file)) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await writeFile(file, `${generateKek()}\n`, { mode: 0o600, flag: 'wx' }).catch((error: { code?: string }) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  return parseKek(await readFile(file, 'utf8'));
}
