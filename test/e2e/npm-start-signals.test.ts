// Stopping `npm start` the ways people and process managers do: SIGTERM or SIGINT to npm's own process (what
// `kill <pid>` or a supervisor does), or to its whole process group (Ctrl-C in a terminal, `kill -- -<pgid>`). Each
// time the node server and the embedded PostgreSQL must both be gone within the grace period, and an orderly stop
// must not log a single warning.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import { childrenOf, isAlive, npmStart, postmasterPid } from '../support/npm-start.js';

jest.setTimeout(120_000);

const GRACE_MS = 5_000;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentauth-signals-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe.each([
  ['SIGTERM', 'npm'],
  ['SIGINT', 'npm'],
  ['SIGTERM', 'process group'],
  ['SIGINT', 'process group'],
] as const)('%s to %s', (signal, target) => {
  it('stops node and the embedded PostgreSQL cleanly, with no warning', async () => {
    // PORT=0 with the default issuer: the server names the port it bound. The cluster in dataDir is reused.
    const server = await npmStart({ PORT: '0', HOST: '127.0.0.1', AGENTAUTH_DATA_DIR: dataDir, AGENTAUTH_SHUTDOWN_GRACE_MS: String(GRACE_MS) });
    const npmPid = server.npm.pid!;
    const [nodePid] = childrenOf(npmPid);
    const postgresPid = postmasterPid(dataDir);
    expect(nodePid).toEqual(expect.any(Number));
    expect(isAlive(nodePid!) && isAlive(postgresPid)).toBe(true);
    expect((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status).toBe(200);
    const before = server.lines.length;

    const signalledAt = Date.now();
    process.kill(target === 'npm' ? npmPid : -npmPid, signal);
    const code = await server.exited;
    for (let i = 0; i < 50 && (isAlive(nodePid!) || isAlive(postgresPid)); i += 1) await new Promise((resolve) => setTimeout(resolve, 100));

    expect(isAlive(nodePid!)).toBe(false);
    expect(isAlive(postgresPid)).toBe(false);
    expect(Date.now() - signalledAt).toBeLessThan(GRACE_MS);
    expect(code).toBe(0);
    const after = server.lines.slice(before).map((line) => line.text);
    expect(after.filter((line) => /"level":"(warn|error|fatal)"|warn|error|^\s+at /i.test(line))).toEqual([]);
    expect(after.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
  });
});
