// One login attempt at the login page: the back-off check (which refuses without touching the password), the
// password check (argon2id, or a dummy verification for unknown usernames so timing tells nothing), and the audit
// event either way.
import type { AuditLog } from '../audit/audit-log.js';
import { throttleKeys, type LoginThrottle } from '../humans/login-throttle.js';
import type { User, UserStore } from '../humans/user-store.js';
import { normalizeUsername } from '../humans/user-store.js';

export type LoginOutcome =
  | { ok: true; user: User }
  | { ok: false; reason: 'invalid_credentials' }
  | { ok: false; reason: 'throttled'; retryAfterSeconds: number };

export type LoginAttempt = {
  username: string;
  password: string;
  ip: string;
  requestId: string | undefined;
  /** The client the human is signing in to. */
  clientId: string | undefined;
};

export function createLogin(deps: { audit: AuditLog; users: UserStore; throttle: LoginThrottle }) {
  return async function attemptLogin(attempt: LoginAttempt): Promise<LoginOutcome> {
    const keys = throttleKeys(attempt.username, attempt.ip);
    const context = { requestId: attempt.requestId, ip: attempt.ip, clientId: attempt.clientId };
    const username = normalizeUsername(attempt.username);

    const verdict = await deps.throttle.begin(keys);
    if (!verdict.allowed) {
      await deps.audit.record({
        action: 'login.failed',
        outcome: 'failure',
        actor: { kind: 'human' },
        ...context,
        details: { username, reason: 'throttled', retry_after_seconds: verdict.retryAfterSeconds },
      });
      return { ok: false, reason: 'throttled', retryAfterSeconds: verdict.retryAfterSeconds };
    }

    const result = await deps.users.checkCredentials(attempt.username, attempt.password);
    if (!result.user) {
      await deps.audit.record({
        action: 'login.failed',
        outcome: 'failure',
        actor: { kind: 'human', id: result.userId },
        userId: result.userId,
        ...context,
        details: { username, reason: 'invalid_credentials' },
      });
      return { ok: false, reason: 'invalid_credentials' };
    }

    await deps.throttle.succeeded(keys);
    await deps.audit.record({
      action: 'login.succeeded',
      outcome: 'success',
      actor: { kind: 'human', id: result.user.id },
      userId: result.user.id,
      ...context,
      details: { username: result.user.username },
    });
    return { ok: true, user: result.user };
  };
}

export type AttemptLogin = ReturnType<typeof createLogin>;
