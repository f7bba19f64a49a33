// Back-off after failed logins: the pure schedule, the counters in PostgreSQL (with a fake clock), and the login
// page itself (per username and per client address, blocked attempts never reach argon2, unknown usernames cost as
// much as known ones, parallel guesses cannot slip past the limit).
// The server trusts X-Forwarded-For here, so each test can speak from addresses of its own.
import {
  afterFailure,
  backoffSeconds,
  createLoginThrottle,
  DEFAULT_THROTTLE_POLICY,
  throttleKeys,
  throttleVerdict,
  withoutOneFailure,
} from '../../src/humans/login-throttle.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { registerApp, startSignIn, submitLogin, type App, type SignIn } from '../pages/interaction-flow.js';

const password = 'correct horse battery staple';

describe('the back-off schedule', () => {
  const t0 = new Date('2030-01-01T00:00:00Z');
  const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

  it('lets the first five failures go, then doubles from 5 seconds up to 15 minutes', () => {
    expect([0, 1, 2, 3, 4].map((n) => backoffSeconds(n))).toEqual([0, 0, 0, 0, 0]);
    expect([5, 6, 7, 8].map((n) => backoffSeconds(n))).toEqual([5, 10, 20, 40]);
    expect(backoffSeconds(12)).toBe(640);
    expect(backoffSeconds(13)).toBe(900);
    expect(backoffSeconds(10_000)).toBe(900);
  });

  it('blocks until blocked_until, and says how long is left (rounded up)', () => {
    expect(throttleVerdict(undefined, t0)).toEqual({ allowed: true });
    const state = { failures: 5, lastFailureAt: t0, blockedUntil: at(5) };
    expect(throttleVerdict(state, at(0.2))).toEqual({ allowed: false, retryAfterSeconds: 5 });
    expect(throttleVerdict(state, at(4.5))).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(throttleVerdict(state, at(5))).toEqual({ allowed: true });
  });

  it('counts failures in a row and starts again after a quiet hour', () => {
    let state = afterFailure(undefined, t0);
    for (let i = 2; i <= 5; i += 1) state = afterFailure(state, at(i));
    expect(state).toEqual({ failures: 5, lastFailureAt: at(5), blockedUntil: at(10) });
    expect(afterFailure(state, at(5 + DEFAULT_THROTTLE_POLICY.quietSeconds))).toMatchObject({ failures: 6 });
    expect(afterFailure(state, at(6 + DEFAULT_THROTTLE_POLICY.quietSeconds))).toEqual({
      failures: 1,
      lastFailureAt: at(6 + DEFAULT_THROTTLE_POLICY.quietSeconds),
      blockedUntil: null,
    });
  });

  it('takes back one failure, and the block that failure caused', () => {
    expect(withoutOneFailure({ failures: 5, lastFailureAt: t0, blockedUntil: at(5) })).toEqual({ failures: 4, lastFailureAt: t0, blockedUntil: null });
    expect(withoutOneFailure({ failures: 7, lastFailureAt: t0, blockedUntil: at(20) })).toEqual({ failures: 6, lastFailureAt: t0, blockedUntil: at(20) });
    expect(withoutOneFailure({ failures: 0, lastFailureAt: t0, blockedUntil: null }).failures).toBe(0);
  });

  it('keys usernames case-insensitively', () => {
    expect(throttleKeys(' Alice ', '10.0.0.1')).toEqual({ user: 'user:alice', ip: 'ip:10.0.0.1' });
  });
});

describe('with a server', () => {
  let server: TestServer;
  let app: App;

  beforeAll(async () => {
    server = await startTestServer({ env: { AGENTAUTH_TRUST_PROXY: 'true' } });
    app = await registerApp(server);
    for (const username of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']) await server.stores.users.create({ username, password });
  }, 60_000);
  afterAll(async () => {
    await server.stop();
  });

  const from = (ip: string) => ({ 'x-forwarded-for': ip });

  /** One login POST; returns status, elapsed milliseconds and the page. */
  async function attempt(signIn: SignIn, username: string, pass: string, ip: string) {
    const started = performance.now();
    const response = await submitLogin(server, signIn, { username, password: pass }, from(ip));
    const ms = performance.now() - started;
    return { status: response.status, ms, html: await response.text(), retryAfter: response.headers.get('retry-after') };
  }

  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const row = (key: string) => server.db.prisma.loginThrottle.findUnique({ where: { key } });

  describe('the counters in PostgreSQL', () => {
    it('block after five failures, release after the back-off, and forget after a quiet hour', async () => {
      const throttle = createLoginThrottle(server.db.prisma);
      const keys = throttleKeys('store-test', '192.0.2.1');
      const t0 = new Date('2030-01-01T00:00:00Z');
      const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

      for (let i = 0; i < 5; i += 1) expect(await throttle.begin(keys, at(i * 0.1))).toEqual({ allowed: true });
      expect(await throttle.begin(keys, at(1))).toEqual({ allowed: false, retryAfterSeconds: 5 });
      // Refused attempts are not counted.
      expect((await row(keys.user))?.failures).toBe(5);
      expect(await throttle.begin(keys, at(6))).toEqual({ allowed: true });
      expect(await throttle.begin(keys, at(6.5))).toEqual({ allowed: false, retryAfterSeconds: 10 });
      expect(await throttle.begin(keys, at(6 + 3601))).toEqual({ allowed: true });
      expect((await row(keys.user))?.failures).toBe(1);
    });

    it('forget a username after a success but only take back the one attempt of the address', async () => {
      const throttle = createLoginThrottle(server.db.prisma);
      const keys = throttleKeys('store-success', '192.0.2.2');
      for (let i = 0; i < 3; i += 1) await throttle.begin(keys);
      await throttle.begin(keys);
      await throttle.succeeded(keys);
      expect(await row(keys.user)).toBeNull();
      expect((await row(keys.ip))?.failures).toBe(3);
    });

    it('sweep forgotten counters but keep blocking ones', async () => {
      const throttle = createLoginThrottle(server.db.prisma);
      const old = new Date('2000-01-01T00:00:00Z');
      await server.db.prisma.loginThrottle.createMany({
        data: [
          { key: 'ip:sweep-old', failures: 3, lastFailureAt: old },
          { key: 'ip:sweep-blocking', failures: 20, lastFailureAt: old, blockedUntil: new Date('2100-01-01T00:00:00Z') },
        ],
      });
      expect(await throttle.sweep()).toBeGreaterThanOrEqual(1);
      expect(await row('ip:sweep-old')).toBeNull();
      expect(await row('ip:sweep-blocking')).not.toBeNull();
    });
  });

  describe('the login page', () => {
    it('engages after five failures for a username (from any address) and then refuses even the right password without verifying it', async () => {
      const signIn = await startSignIn(server, app);
      const failures = [];
      for (let i = 1; i <= 5; i += 1) failures.push(await attempt(signIn, 'alice', 'wrong password', `10.1.0.${i}`));
      expect(failures.map((f) => f.status)).toEqual([400, 400, 400, 400, 400]);

      const blocked = await attempt(signIn, 'alice', password, '10.1.0.99');
      expect(blocked.status).toBe(429);
      expect(blocked.html).toMatch(/Too many attempts\. Try again in [45] seconds\./);
      expect(Number(blocked.retryAfter)).toBeGreaterThanOrEqual(4);
      // No argon2 verification: far quicker than a verified attempt (~95 ms of argon2 alone).
      expect(blocked.ms).toBeLessThan(median(failures.map((f) => f.ms)) / 2);
      expect((await row('user:alice'))?.failures).toBe(5);

      const audit = await server.db.prisma.auditEvent.findMany({ where: { action: 'login.failed', ip: '10.1.0.99' } });
      expect(audit).toHaveLength(1);
      expect(audit[0]!.details).toMatchObject({ reason: 'throttled', username: 'alice' });
      expect(await server.db.prisma.auditEvent.count({ where: { action: 'login.succeeded', ip: '10.1.0.99' } })).toBe(0);
    });

    it('engages after five failures from one address (whatever the usernames)', async () => {
      const signIn = await startSignIn(server, app);
      for (const username of ['nobody1', 'nobody2', 'nobody3', 'nobody4', 'nobody5']) {
        expect((await attempt(signIn, username, 'guess', '10.2.0.1')).status).toBe(400);
      }
      const blocked = await attempt(signIn, 'bob', password, '10.2.0.1');
      expect(blocked.status).toBe(429);
      expect(blocked.html).toContain('Too many attempts');
      // Bob himself is not blocked elsewhere.
      expect((await attempt(signIn, 'bob', password, '10.2.0.2')).status).toBe(303);
    });

    it('costs as much time for an unknown username as for a known one', async () => {
      const signIn = await startSignIn(server, app);
      const known: number[] = [];
      const unknown: number[] = [];
      for (let i = 1; i <= 4; i += 1) {
        known.push((await attempt(signIn, 'erin', 'wrong password', `10.3.0.${i}`)).ms);
        unknown.push((await attempt(signIn, `ghost${i}`, 'wrong password', `10.3.1.${i}`)).ms);
      }
      expect(median(unknown)).toBeGreaterThanOrEqual(median(known) * 0.5);
      // Both pay for an argon2 verification.
      expect(median(unknown)).toBeGreaterThan(40);
    });

    it('forgets a username\'s failures after a successful login', async () => {
      const signIn = await startSignIn(server, app);
      for (let i = 1; i <= 4; i += 1) expect((await attempt(signIn, 'carol', 'wrong password', `10.4.0.${i}`)).status).toBe(400);
      expect((await attempt(signIn, 'carol', password, '10.4.0.5')).status).toBe(303);
      expect(await row('user:carol')).toBeNull();

      const again = await startSignIn(server, app);
      for (let i = 1; i <= 4; i += 1) expect((await attempt(again, 'carol', 'wrong password', `10.4.1.${i}`)).status).toBe(400);
      expect((await attempt(again, 'carol', password, '10.4.1.5')).status).toBe(303);
    });

    it('does not count successful logins against their address', async () => {
      for (let i = 0; i < 6; i += 1) {
        const signIn = await startSignIn(server, app);
        expect((await attempt(signIn, 'frank', password, '10.5.0.1')).status).toBe(303);
      }
      expect((await row('ip:10.5.0.1'))?.failures ?? 0).toBe(0);
    });

    it('lets no more than five of a burst of parallel guesses reach the password check', async () => {
      const signIn = await startSignIn(server, app);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => attempt(signIn, 'dave', 'parallel guess', `10.6.0.${i + 1}`)),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 400)).toHaveLength(5);
      expect(statuses.filter((s) => s === 429)).toHaveLength(5);
      expect((await row('user:dave'))?.failures).toBe(5);
    }, 30_000);
  });
});
