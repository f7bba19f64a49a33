// An HTTPS server on a loopback port that serves Client ID Metadata Documents, with a certificate from a throw-away
// CA made with openssl: a server that must trust it gets the CA through NODE_EXTRA_CA_CERTS (read by Node at
// process start, so that server runs as a child process, test/support/process.ts). Counts fetches per path.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from './postgres-server.js';
import { spawnServer, type ServerProcess } from './process.js';
import { freePort } from './server.js';

export type DocumentServer = {
  origin: string;
  /** PEM file of the CA that signed the server's certificate (for NODE_EXTRA_CA_CERTS). */
  caFile: string;
  /** Serves `body` at `path`, with these response headers. */
  publish(path: string, body: unknown, headers?: Record<string, string>): string;
  fetches(path: string): number;
  close(): Promise<void>;
};

/** A CA and a certificate for 127.0.0.1 / localhost signed by it, in a fresh directory. */
async function makeCertificates(dir: string): Promise<{ ca: string; key: string; cert: string }> {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=agentauth test CA');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  await writeFile(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'san.ext');
  const read = (name: string) => readFile(path.join(dir, name), 'utf8');
  return { ca: path.join(dir, 'ca.pem'), key: await read('server.key'), cert: await read('server.pem') };
}

export async function startDocumentServer(): Promise<DocumentServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-cimd-'));
  const { ca, key, cert } = await makeCertificates(dir);
  const documents = new Map<string, { body: string; headers: Record<string, string> }>();
  const counts = new Map<string, number>();
  const server = https.createServer({ key, cert }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    counts.set(url.pathname, (counts.get(url.pathname) ?? 0) + 1);
    const document = documents.get(url.pathname);
    if (!document) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json', ...document.headers }).end(document.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    caFile: ca,
    publish(documentPath, body, headers = { 'cache-control': 'max-age=300' }) {
      documents.set(documentPath, { body: JSON.stringify(body), headers });
      return `${origin}${documentPath}`;
    },
    fetches: (documentPath) => counts.get(documentPath) ?? 0,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * An agentauth process on its own database that fetches from `documents` (loopback https allowed, the document
 * server's throw-away CA trusted), with `adminKey` as its bootstrap admin key.
 */
export async function spawnServerTrusting(documents: DocumentServer, adminKey: string, name: string): Promise<{ database: TestDatabase; server: ServerProcess; issuer: string }> {
  const database = await createTestDatabase();
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const server = await spawnServer({
    DATABASE_URL: database.url,
    PORT: String(port),
    ISSUER: issuer,
    AGENTAUTH_KEK: randomBytes(32).toString('base64url'),
    AGENTAUTH_BOOTSTRAP_ADMIN_KEY: adminKey,
    AGENTAUTH_DATA_DIR: `/tmp/agentauth-${name}-${port}`,
    AGENTAUTH_CIMD_ALLOW_LOOPBACK: 'true',
    NODE_EXTRA_CA_CERTS: documents.caFile,
  });
  return { database, server, issuer };
}
