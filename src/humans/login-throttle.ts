// Back-off after repeated failed logins, per username and per client address, kept in PostgreSQL (`login_throttles`)
// so that every replica and every restart sees the same counters.
//
// The first FREE_FAILURES failures in a row cost nothing; each further one blocks the key for twice as long as the
// one before (5 s, 10 s, 20 s, ... up to 15 minutes). A quiet hour forgets the count; a successful login forgets the
// username's count. While a key is blocked, attempts are refused without verifying the password, so they cost no
// argon2 time and tell nothing about it.
//
// An attempt is counted as a failure BEFORE the password is checked, under a row lock, and taken back if it
// succeeds: otherwise a burst of parallel guesses would all pass the "is it blocked?" check together and be verified.
import type { PrismaClient } from '../db/client.js';
import { Prisma } from '../../generated/prisma/client.js';
import { normalizeUsername } from './user-store.js';

export type ThrottlePolicy = {
  /** Failures in a row that cost nothing. */
  freeFailures: number;
  /** Seconds blocked after the first failure past the free ones; doubles with each further failure. */
  baseSeconds: number;
  maxSeconds: number;
  /** A key whose last failure is this old starts counting again from zero. */
  quietSeconds: number;
};

export const DEFAULT_THROTTLE_POLICY: ThrottlePolicy = { freeFailures: 5, baseSeconds: 5, maxSeconds: 15 * 60, quietSeconds: 60 * 60 };

export type ThrottleState = { failures: number; lastFailureAt: Date; blockedUntil: Date | null };

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** Seconds a key is blocked right after its `failures`-th failure in a row (0: not blocked). */
export function backoffSeconds(failures: number, policy: ThrottlePolicy = DEFAULT_THROTTLE_POLICY): number {
  const beyond = failures - policy.freeFailures;
  if (beyond < 0) return 0;
  // 2 ** beyond overflows to Infinity long after it passes the cap; Math.min handles that.
  return Math.min(policy.baseSeconds * 2 ** beyond, policy.maxSeconds);
}

/** May an attempt under this key go ahead at `now`? */
export function throttleVerdict(state: ThrottleState | undefined, now: Date): ThrottleVerdict {
  if (!state?.blockedUntil || state.blockedUntil <= now) return { allowed: true };
  return { allowed: false, retryAfterSeconds: Math.ceil((state.blockedUntil.getTime() - now.getTime()) / 1000) };
}

/** The state after one more failure at `now`. */
export function afterFailure(state: ThrottleState | undefined, now: Date, policy: ThrottlePolicy = DEFAULT_THROTTLE_POLICY): ThrottleState {
  const quiet = !state || now.getTime() - state.lastFailureAt.getTime() > policy.quietSeconds * 1000;
  const failures = quiet ? 1 : state.failures + 1;
  const seconds = backoffSeconds(failures, policy);
  return { failures, lastFailureAt: now, blockedUntil: seconds > 0 ? new Date(now.getTime() + seconds * 1000) : null };
}

/**
 * Takes back one failure counted for an attempt that succeeded. A block that the taken-back failure caused goes
 * too; one earned by other failures stays.
 */
export function withoutOneFailure(state: ThrottleState, policy: ThrottlePolicy = DEFAULT_THROTTLE_POLICY): ThrottleState {
  const failures = Math.max(0, state.failures - 1);
  return { ...state, failures, blockedUntil: backoffSeconds(failures, policy) > 0 ? state.blockedUntil : null };
}

export type ThrottleKeys = { user: string; ip: string };

export function throttleKeys(username: string, ip: string): ThrottleKeys {
  return { user: `user:${normalizeUsername(username)}`, ip: `ip:${ip}` };
}

type Row = { key: string; failures: number; last_failure_at: Date; blocked_until: Date | null };

const toState = (row: Row): ThrottleState => ({ failures: row.failures, lastFailureAt: row.last_failure_at, blockedUntil: row.blocked_until });

export function createLoginThrottle(prisma: PrismaClient, policy: ThrottlePolicy = DEFAULT_THROTTLE_POLICY) {
  /** Runs `work` on the current states of `keys`, locked (in key order, so concurrent callers cannot deadlock). */
  const withLockedStates = <T>(keys: string[], now: Date, work: (tx: Prisma.TransactionClient, states: Map<string, ThrottleState>) => Promise<T>) =>
    prisma.$transaction(async (tx) => {
      await tx.loginThrottle.createMany({
        data: keys.map((key) => ({ key, failures: 0, lastFailureAt: now })),
        skipDuplicates: true,
      });
      const rows = await tx.$queryRaw<Row[]>`
        SELECT key, failures, last_failure_at, blocked_until FROM login_throttles
        WHERE key IN (${Prisma.join(keys)}) ORDER BY key FOR UPDATE`;
      return work(tx, new Map(rows.map((row) => [row.key, toState(row)])));
    });

  const save = (tx: Prisma.TransactionClient, key: string, state: ThrottleState) =>
    tx.loginThrottle.update({ where: { key }, data: { failures: state.failures, lastFailureAt: state.lastFailureAt, blockedUntil: state.blockedUntil } });

  return {
    /**
     * Asks to make a login attempt. Refused while any key is blocked (nothing is counted then); otherwise the
     * attempt is counted as a failure until `succeeded` takes it back.
     */
    async begin(keys: ThrottleKeys, now = new Date()): Promise<ThrottleVerdict> {
      const names = [keys.user, keys.ip];
      return withLockedStates(names, now, async (tx, states) => {
        const refusals = names
          .map((name) => throttleVerdict(states.get(name), now))
          .filter((verdict): verdict is Extract<ThrottleVerdict, { allowed: false }> => !verdict.allowed);
        if (refusals.length > 0) return { allowed: false, retryAfterSeconds: Math.max(...refusals.map((r) => r.retryAfterSeconds)) };
        for (const name of names) await save(tx, name, afterFailure(states.get(name), now, policy));
        return { allowed: true };
      });
    },

    /** The attempt begun with these keys succeeded: the username starts afresh; the address gets its failure back. */
    async succeeded(keys: ThrottleKeys, now = new Date()): Promise<void> {
      await withLockedStates([keys.ip], now, async (tx, states) => {
        const state = states.get(keys.ip);
        if (state) await save(tx, keys.ip, withoutOneFailure(state, policy));
        await tx.loginThrottle.deleteMany({ where: { key: keys.user } });
      });
    },

    /** Deletes counters that are neither blocking nor remembered any more; returns how many. */
    async sweep(now = new Date()): Promise<number> {
      const forgotten = new Date(now.getTime() - policy.quietSeconds * 1000);
      const { count } = await prisma.loginThrottle.deleteMany({
        where: { lastFailureAt: { lt: forgotten }, OR: [{ blockedUntil: null }, { blockedUntil: { lt: now } }] },
      });
      return count;
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
