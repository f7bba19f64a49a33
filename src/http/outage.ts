// Telling "the database is unreachable" apart from a fault of ours, and logging it sensibly. During an outage every
// request fails the same way: clients are told to come back (503 + Retry-After, `temporarily_unavailable` on OAuth
// endpoints) and the log gets one line when it starts and one summary per interval, not a stack per request.
import type { Logger } from '../observability/logger.js';

/** Seconds a client is asked to wait (Retry-After) while the database is unreachable. */
export const OUTAGE_RETRY_AFTER_SECONDS = 2;

// Prisma's "cannot reach / connection closed / timed out" errors, and what node-postgres and the socket say when the
// server is down, restarting or shutting down (57P01 admin_shutdown, 57P03 cannot_connect_now, 08xxx connection).
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);
const MESSAGES = /Connection terminated|connection (?:is )?(?:closed|refused|timeout)|terminating connection|the database system is (?:starting up|shutting down|in recovery)|Can't reach database server|Timed out fetching a new connection|Client has encountered a connection error|server closed the connection|DatabaseNotReachable|ConnectionClosed|SocketTimeout/i;

/** Whether `error` (or what caused it) says the database could not be reached. */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 5) return false;
  const { code, message, cause, kind } = error as { code?: unknown; message?: unknown; cause?: unknown; kind?: unknown };
  if (typeof code === 'string' && (PRISMA_CODES.has(code) || SOCKET_CODES.has(code) || /^(08|57P0[1-3])/.test(code))) return true;
  if (typeof kind === 'string' && /DatabaseNotReachable|ConnectionClosed|SocketTimeout|TooManyConnections/.test(kind)) return true;
  if (typeof message === 'string' && MESSAGES.test(message)) return true;
  return isDatabaseUnavailable(cause, depth + 1);
}

export type OutageLog = { report(error: unknown): void };

/** One warning when an outage starts, then at most one summary per interval while failures continue. */
export function outageLog(log: Logger, intervalMs = 10_000, now: () => number = Date.now): OutageLog {
  let windowStart = -Infinity;
  let suppressed = 0;
  return {
    report(error) {
      const at = now();
      if (at - windowStart < intervalMs) {
        suppressed += 1;
        return;
      }
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      log.warn({ failures_since_last_report: suppressed, reason: message?.slice(0, 200) }, 'database unavailable: answering 503');
      windowStart = at;
      suppressed = 0;
    },
  };
}
