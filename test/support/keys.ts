// Helpers for key tests: a database handle without a server, the published JWKS, client-credentials tokens over
// plain HTTP (works against any server, in-process or spawned), the CLI as a separate process, and waiting.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { connectDatabase, type Database } from '../../src/db/client.js';
import { createLogger } from '../../src/observability/logger.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

export function newKek(): string {
  return randomBytes(32).toString('base64url');
}

export function openDatabase(url: string): Database {
  return connectDatabase(url, createLogger('silent'), 2);
}

export async function fetchJwks(baseUrl: string): Promise<{ jwks: JSONWebKeySet; cacheControl: string | null }> {
  const response = await fetch(`${baseUrl}/jwks`);
  if (response.status !== 200) throw new Error(`GET /jwks answered ${response.status}`);
  return { jwks: (await response.json()) as JSONWebKeySet, cacheControl: response.headers.get('cache-control') };
}

export async function publishedKids(baseUrl: string): Promise<string[]> {
  return (await fetchJwks(baseUrl)).jwks.keys.map((k) => k.kid!).sort();
}

/** A client-credentials access token, asked for with client_secret_basic. */
export async function clientCredentialsToken(
  baseUrl: string,
  client: { clientId: string; clientSecret?: string },
  request: { resource: string; scope: string },
): Promise<string> {
  const credentials = `${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret ?? '')}`;
  const response = await fetch(`${baseUrl}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...request }),
  });
  const body = (await response.json()) as { access_token?: string; error?: string };
  if (response.status !== 200 || !body.access_token) throw new Error(`token request answered ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

export function kidOf(jwt: string): string {
  return decodeProtectedHeader(jwt).kid!;
}

/** Verifies as a resource server would, against a JWKS fetched from the server. */
export async function verifyAgainst(jwks: JSONWebKeySet, token: string, expected: { issuer: string; audience: string }): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { ...expected, typ: 'at+jwt' });
  return payload;
}

/** Polls until `probe` returns true; resolves with the time it took, rejects after `timeoutMs`. */
export async function waitFor(probe: () => Promise<boolean> | boolean, timeoutMs: number, what = 'condition'): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export type CliRun = { code: number | null; stdout: string; stderr: string };

/** `npx agentauth ...` as a separate process, on the compiled build (`npm test` builds first). */
export function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'agentauth.mjs'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
