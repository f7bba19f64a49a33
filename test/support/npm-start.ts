// `npm start` exactly as a person runs it: npm's own process (in a process group of its own, like a terminal's
// foreground job), its console output line by line, and the pids of the node server and embedded PostgreSQL under
// it, for tests of the first start and of signals.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

export type NpmStart = {
  npm: ChildProcess;
  port: number;
  /** Every stdout and stderr line so far, in arrival order, tagged with its stream. */
  lines: Array<{ stream: 'stdout' | 'stderr'; text: string }>;
  /** Resolves with the first line (either stream) matching, waiting up to `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** npm's exit code, once it has exited. */
  exited: Promise<number | null>;
};

/**
 * Runs `npm start` in ROOT. `--ignore-scripts` skips only the `prestart` build: `npm test` has just built dist/, and
 * a second tsc writing dist/ under the other test workers' feet would race them. The start script itself runs as is.
 */
export async function npmStart(env: Record<string, string>): Promise<NpmStart> {
  const inherited = { ...process.env };
  delete inherited.DATABASE_URL;
  const npm = spawn('npm', ['start', '--ignore-scripts'], {
    cwd: ROOT,
    env: { ...inherited, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = once(npm, 'exit').then(([code]) => code as number | null);
  const lines: NpmStart['lines'] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const onLine = (stream: 'stdout' | 'stderr') => (text: string) => {
    lines.push({ stream, text });
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(text)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(text);
      }
    }
  };
  readline.createInterface({ input: npm.stdout! }).on('line', onLine('stdout'));
  readline.createInterface({ input: npm.stderr! }).on('line', onLine('stderr'));
  const waitForLine = (pattern: RegExp, timeoutMs = 90_000) => {
    const seen = lines.find((line) => pattern.test(line.text));
    if (seen) return Promise.resolve(seen.text);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${lines.map((l) => l.text).join('\n')}`)), timeoutMs);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`npm exited (${code}) before a line matched ${pattern}:\n${lines.map((l) => l.text).join('\n')}`));
      });
      waiters.push({ pattern, resolve: (line) => (clearTimeout(timer), resolve(line)) });
    });
  };
  const listening = await waitForLine(/"msg":"agentauth listening"/);
  const port = (JSON.parse(listening) as { port: number }).port;
  return { npm, port, lines, waitForLine, exited };
}

/** Direct children of a process (Linux /proc). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The embedded PostgreSQL's postmaster pid, from its pid file. */
export function postmasterPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
