// `/approvals`: the signed-in human's own view of what agents may do for them. Active delegations per agent, each
// withdrawable; a way to block an agent from asking again (from its delegations, from a waiting request, or right after
// withdrawing) and to unblock it; requests waiting for an answer; signing out. Every withdrawal goes through the
// revocation service, so the approval, its Grant, refresh tokens and issued tokens all stop together. Every form
// carries a CSRF token; every POST answers with a 303 back to the page.
//
// Who is signed in: the oidc-provider session (a human who just signed in for an application or agent is already
// signed in here), else this page's own sign-in, which keeps a short-lived HMAC-signed cookie scoped to /approvals.
import type { AuditLog } from '../audit/audit-log.js';
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { AgentStore, AgentSummary } from '../agents/agent-store.js';
import type { AgentBlockStore } from '../approvals/agent-block-store.js';
import { approvalState, type ApprovalStore } from '../approvals/approval-store.js';
import { InvalidInputError } from '../errors.js';
import type { RequestState } from '../http/request-context.js';
import { MAX_PASSWORD_LENGTH } from '../humans/passwords.js';
import type { UserStore } from '../humans/user-store.js';
import type { RevocationService } from '../revocation/revocation-service.js';
import type { CsrfGuard, CsrfScope } from './csrf.js';
import { checkedForm } from './checked-form.js';
import type { FormFields } from './form-body.js';
import type { AttemptLogin } from './login.js';
import { PageError } from './page-error.js';
import { withPageErrors } from './render-page-error.js';
import type { PageRenderer } from './views.js';

// Requests waiting for the human (CIBA), shown and answered on this page.
import type { PendingRequests } from '../approvals/backchannel-approvals.js';

export type ApprovalsPageDependencies = {
  prefix: string;
  provider: () => Provider;
  audit: AuditLog;
  agents: Pick<AgentStore, 'summaries'>;
  users: UserStore;
  approvals: ApprovalStore;
  blocks: AgentBlockStore;
  revocation: RevocationService;
  csrf: CsrfGuard;
  views: PageRenderer;
  attemptLogin: AttemptLogin;
  kek: Buffer;
  pending?: PendingRequests | undefined;
};

const HOW_GRANTED: Record<string, string> = {
  consent: 'You approved this on the consent page.',
  ciba: 'You approved this when the agent asked.',
  admin: 'Granted by an administrator.',
  id_jag: 'Approved through your organisation\'s sign-in service, for one token',
};

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAY_MS = 86_400_000;

/**
 * "until 28 December (in 30 days)", "until 29 November (tomorrow)", "until 14:30 UTC today": when something ends, as
 * a date a person can put in a calendar. Days are counted between calendar dates (UTC), so an approval given today
 * for 30 days reads "in 30 days", not the 29 whole days and some hours a duration would floor to.
 */
export function describeUntil(until: Date, now: Date): string {
  const days = Math.round((Date.UTC(until.getUTCFullYear(), until.getUTCMonth(), until.getUTCDate()) - Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())) / DAY_MS);
  if (days <= 0) return `until ${String(until.getUTCHours()).padStart(2, '0')}:${String(until.getUTCMinutes()).padStart(2, '0')} UTC today`;
  const year = until.getUTCFullYear() === now.getUTCFullYear() ? '' : ` ${until.getUTCFullYear()}`;
  return `until ${until.getUTCDate()} ${MONTHS[until.getUTCMonth()]}${year} (${days === 1 ? 'tomorrow' : `in ${days} days`})`;
}

/** "3 days", "5 hours", "12 minutes": how long something still lasts, rounded down to a unit a person reads. */
export function describeRemaining(until: Date, now: Date): string {
  const minutes = Math.max(1, Math.floor((until.getTime() - now.getTime()) / 60_000));
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (minutes >= 1440) return unit(Math.floor(minutes / 1440), 'day');
  if (minutes >= 60) return unit(Math.floor(minutes / 60), 'hour');
  return unit(minutes, 'minute');
}

const COOKIE = 'agentauth.approvals';
const SIGN_IN_SECONDS = 3600;
// Approval and agent ids, and the keyed hashes (`hmac-sha256:...`) that name CIBA requests.
const ID = /^[A-Za-z0-9_:-]{1,64}$/;
const MAX_USERNAME_LENGTH = 256;

export function approvalsRoutes(deps: ApprovalsPageDependencies): Middleware {
  const { prefix, views, csrf } = deps;
  const base = `${prefix}/approvals`;
  const scope = (purpose: string): CsrfScope => ({ purpose: `approvals/${purpose}`, path: base });
  const state = (ctx: Context) => ctx.state as Partial<RequestState>;
  const cookieKey = Buffer.from(hkdfSync('sha256', deps.kek, Buffer.alloc(0), 'agentauth approvals sign-in v1', 32));
  const sign = (value: string) => createHmac('sha256', cookieKey).update(value).digest('base64url');

  /** The human signed in here, if any: the provider's session first, then this page's own sign-in cookie. */
  async function signedInHuman(ctx: Context): Promise<string | undefined> {
    const provider = deps.provider();
    const sessionId = ctx.cookies.get(provider.cookieName('session'), { signed: true });
    let userId: string | undefined;
    if (sessionId) {
      const session = await provider.Session.find(sessionId);
      userId = session?.accountId;
    }
    if (!userId) {
      const raw = ctx.cookies.get(COOKIE, { signed: false }) ?? '';
      const [id, exp, mac] = raw.split('.');
      const stamp = id && exp && mac ? await deps.users.sessionStamp(id) : undefined;
      if (id && exp && mac && stamp) {
        const expected = Buffer.from(sign(`${id}.${exp}.${stamp}`));
        const given = Buffer.from(mac);
        if (given.length === expected.length && timingSafeEqual(given, expected) && Number(exp) > Date.now() / 1000) userId = id;
      }
    }
    // A disabled human is signed in nowhere.
    return userId && (await deps.users.findAccount(userId)) ? userId : undefined;
  }

  async function requireHuman(ctx: Context): Promise<string> {
    const userId = await signedInHuman(ctx);
    if (!userId) throw new PageError(401, 'Sign in first', 'Your sign-in has ended. Open your approvals page and sign in again.');
    return userId;
  }

  function submitted(ctx: Context, purpose: string): Promise<FormFields> {
    return checkedForm(ctx, { csrf, audit: deps.audit }, scope(purpose), 'The form was not sent from your approvals page, or the page is out of date. Reload it and try again.');
  }

  function idParam(ctx: Context, name: string): string {
    const value = (ctx as Context & { params: Record<string, string> }).params[name] ?? '';
    if (!ID.test(value)) throw new PageError(404, 'Not found', 'There is nothing here. Go back to your approvals page.');
    return value;
  }

  const backToPage = (ctx: Context, query = '') => {
    ctx.status = 303;
    ctx.redirect(`${base}${query}`);
  };

  function renderSignIn(ctx: Context, extra: { error?: string; status?: number; username?: string; notice?: string } = {}) {
    views.render(
      ctx,
      'approvals-sign-in',
      {
        title: 'Sign in',
        error: extra.error,
        notice: extra.notice,
        username: extra.username ?? '',
        loginAction: `${base}/login`,
        loginToken: csrf.issue(ctx, scope('login')),
        maxUsernameLength: MAX_USERNAME_LENGTH,
        maxPasswordLength: MAX_PASSWORD_LENGTH,
      },
      { status: extra.status ?? 200 },
    );
  }

  const blockForm = (ctx: Context, agentId: string) => ({ blockAction: `${base}/agents/${agentId}/block`, blockToken: csrf.issue(ctx, scope(`block/${agentId}`)) });

  async function renderPage(ctx: Context, userId: string) {
    const now = new Date();
    const [active, blocked, pending, user] = await Promise.all([
      deps.approvals.list({ userId, status: 'active', limit: 200 }, now),
      deps.blocks.listFor(userId),
      deps.pending ? deps.pending.listFor(userId) : Promise.resolve([]),
      deps.users.findById(userId),
    ]);
    const blockedIds = new Set(blocked.map((b) => b.agentId));
    // Just withdrawn (`?withdrawn=<agent>`): offer to block that agent too, if it is not blocked and no longer acts.
    const justWithdrawn = typeof ctx.query.withdrawn === 'string' && ID.test(ctx.query.withdrawn) ? ctx.query.withdrawn : undefined;
    const withdrawnAgent =
      justWithdrawn && !blockedIds.has(justWithdrawn) && !active.items.some((a) => a.agentId === justWithdrawn) &&
      (await deps.approvals.list({ userId, agentId: justWithdrawn, limit: 1 }, now)).items.length > 0
        ? justWithdrawn
        : undefined;
    const agentIds = [...new Set([...active.items.map((a) => a.agentId), ...blocked.map((b) => b.agentId), ...(withdrawnAgent ? [withdrawnAgent] : [])])];
    const agentOf = new Map((await deps.agents.summaries(agentIds)).map((a) => [a.id, a]));
    const summary = (id: string): AgentSummary => agentOf.get(id) ?? { id, name: id, description: '', ownerName: '' };
    const byAgent = agentIds
      .filter((id) => active.items.some((a) => a.agentId === id))
      .map((id) => ({
        agent: summary(id),
        ...blockForm(ctx, id),
        approvals: active.items
          .filter((a) => a.agentId === id && approvalState(a, now) === 'active')
          .map((a) => ({
            ...a,
            until: describeUntil(a.expiresAt, now),
            howGranted: a.grantedVia === 'id_jag' ? `${HOW_GRANTED.id_jag} (${a.issuer ?? 'unknown issuer'}).` : (HOW_GRANTED[a.grantedVia] ?? a.grantedVia),
            withdrawAction: `${base}/${a.id}/withdraw`,
            withdrawToken: csrf.issue(ctx, scope(`withdraw/${a.id}`)),
          })),
      }));
    views.render(ctx, 'approvals', {
      title: 'Your approvals',
      username: user?.displayName ?? user?.username ?? '',
      logoutAction: `${base}/logout`,
      logoutToken: csrf.issue(ctx, scope('logout')),
      withdrawn: withdrawnAgent ? { agent: summary(withdrawnAgent), ...blockForm(ctx, withdrawnAgent) } : undefined,
      delegations: byAgent,
      pending: pending.map((p) => ({
        ...p,
        approveAction: `${base}/requests/${p.id}/approve`,
        approveToken: csrf.issue(ctx, scope(`approve/${p.id}`)),
        denyAction: `${base}/requests/${p.id}/deny`,
        denyToken: csrf.issue(ctx, scope(`deny/${p.id}`)),
        ...blockForm(ctx, p.agentId),
        expiresIn: describeRemaining(p.expiresAt, now),
      })),
      blocked: blocked.map((b) => ({
        agent: summary(b.agentId),
        unblockAction: `${base}/agents/${b.agentId}/unblock`,
        unblockToken: csrf.issue(ctx, scope(`unblock/${b.agentId}`)),
      })),
    });
  }

  const router = new Router({ prefix: base });
  const page = (handler: (ctx: Context) => Promise<void>) => withPageErrors(views, handler);
  const revoker = (ctx: Context, userId: string) => ({ actor: { kind: 'human' as const, id: userId }, requestId: state(ctx).requestId, ip: ctx.ip });

  router.get('/', page(async (ctx) => {
    const userId = await signedInHuman(ctx);
    if (!userId) return renderSignIn(ctx, ctx.query.signed_out === '1' ? { notice: 'You are signed out.' } : {});
    await renderPage(ctx, userId);
  }));

  router.post('/login', page(async (ctx) => {
    const form = await submitted(ctx, 'login');
    const username = (form.get('username') ?? '').trim();
    const password = form.get('password') ?? '';
    if (!username || !password) return renderSignIn(ctx, { username, status: 400, error: 'Enter your username and your password.' });
    if (username.length > MAX_USERNAME_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
      return renderSignIn(ctx, { status: 400, error: 'The username or password is too long.' });
    }
    const outcome = await deps.attemptLogin({ username, password, ip: ctx.ip, requestId: state(ctx).requestId, clientId: undefined });
    if (!outcome.ok && outcome.reason === 'throttled') {
      ctx.set('Retry-After', String(outcome.retryAfterSeconds));
      return renderSignIn(ctx, { username, status: 429, error: `Too many attempts. Try again in ${outcome.retryAfterSeconds} seconds.` });
    }
    if (!outcome.ok) return renderSignIn(ctx, { username, status: 400, error: 'Invalid username or password.' });
    const value = `${outcome.user.id}.${Math.floor(Date.now() / 1000) + SIGN_IN_SECONDS}`;
    // Bound to the password: changing it ends this sign-in.
    const stamp = await deps.users.sessionStamp(outcome.user.id);
    ctx.cookies.set(COOKIE, `${value}.${sign(`${value}.${stamp}`)}`, {
      path: base,
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      signed: false,
      overwrite: true,
      maxAge: SIGN_IN_SECONDS * 1000,
    });
    backToPage(ctx);
  }));

  router.post('/:id/withdraw', page(async (ctx) => {
    const id = idParam(ctx, 'id');
    await submitted(ctx, `withdraw/${id}`);
    const userId = await requireHuman(ctx);
    // Only the human's own approvals: anyone else's is "not found", never revealed.
    const approval = await deps.approvals.get(id).catch(() => undefined);
    if (!approval || approval.userId !== userId) throw new PageError(404, 'No such approval', 'It may have been withdrawn already. Go back to your approvals page.');
    await deps.revocation.revoke({ approvalId: id }, revoker(ctx, userId), 'withdrawn by the human');
    backToPage(ctx, `?withdrawn=${encodeURIComponent(approval.agentId)}`);
  }));

  router.post('/logout', page(async (ctx) => {
    await submitted(ctx, 'logout');
    // Both ways of being signed in end: this page's cookie, and the provider session (signed in for an app or agent).
    ctx.cookies.set(COOKIE, '', { path: base, httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: false, overwrite: true, maxAge: 0 });
    const provider = deps.provider();
    const sessionId = ctx.cookies.get(provider.cookieName('session'), { signed: true });
    const session = sessionId ? await provider.Session.find(sessionId) : undefined;
    if (session) await session.destroy();
    backToPage(ctx, '?signed_out=1');
  }));

  router.post('/agents/:agentId/block', page(async (ctx) => {
    const agentId = idParam(ctx, 'agentId');
    await submitted(ctx, `block/${agentId}`);
    const userId = await requireHuman(ctx);
    if ((await deps.agents.summaries([agentId])).length === 0) throw new PageError(404, 'No such agent', 'Go back to your approvals page.');
    await deps.blocks.block(userId, agentId);
    // Blocking leaves nothing standing: every delegation this human gave the agent is withdrawn with its tokens, and
    // every request it has waiting for this human is denied.
    await deps.revocation.revoke({ agentId, userId }, revoker(ctx, userId), 'agent blocked by the human');
    const waiting = deps.pending ? (await deps.pending.listFor(userId)).filter((p) => p.agentId === agentId) : [];
    for (const request of waiting) await deps.pending!.answer(userId, request.id, { approve: false }, { requestId: state(ctx).requestId, ip: ctx.ip });
    await deps.audit.record({ action: 'agent.blocked', outcome: 'success', ...revoker(ctx, userId), userId, agentId });
    backToPage(ctx);
  }));

  router.post('/agents/:agentId/unblock', page(async (ctx) => {
    const agentId = idParam(ctx, 'agentId');
    await submitted(ctx, `unblock/${agentId}`);
    const userId = await requireHuman(ctx);
    await deps.blocks.unblock(userId, agentId);
    await deps.audit.record({ action: 'agent.unblocked', outcome: 'success', ...revoker(ctx, userId), userId, agentId });
    backToPage(ctx);
  }));

  router.post('/requests/:id/approve', page(async (ctx) => {
    const id = idParam(ctx, 'id');
    const form = await submitted(ctx, `approve/${id}`);
    const userId = await requireHuman(ctx);
    if (!deps.pending) throw new PageError(404, 'No such request', 'Go back to your approvals page.');
    const requested = (await deps.pending.listFor(userId)).find((p) => p.id === id);
    if (!requested) throw new PageError(404, 'No such request', 'It may have expired or been answered already. Go back to your approvals page.');
    const scopes = requested.scopes.filter((_s, i) => form.get(`scope.${i}`) === 'on').map((s) => s.name);
    if (requested.scopes.length > 0 && scopes.length === 0) {
      throw new PageError(400, 'Choose at least one permission', 'Go back and tick what the agent may do, or deny the request.');
    }
    const answered = await deps.pending
      .answer(userId, id, { approve: true, scopes }, { requestId: state(ctx).requestId, ip: ctx.ip })
      .catch((error: unknown) => {
        // The agent changed since it asked (suspended, narrower ceiling or audiences): nothing can be approved.
        if (error instanceof InvalidInputError) throw new PageError(409, 'This request can no longer be approved', 'The agent has changed since it asked. Deny it, or wait for it to ask again.');
        throw error;
      });
    if (!answered) throw new PageError(404, 'No such request', 'It may have expired or been answered already. Go back to your approvals page.');
    backToPage(ctx);
  }));

  router.post('/requests/:id/deny', page(async (ctx) => {
    const id = idParam(ctx, 'id');
    await submitted(ctx, `deny/${id}`);
    const userId = await requireHuman(ctx);
    if (!deps.pending || !(await deps.pending.answer(userId, id, { approve: false }, { requestId: state(ctx).requestId, ip: ctx.ip }))) {
      throw new PageError(404, 'No such request', 'It may have expired or been answered already. Go back to your approvals page.');
    }
    backToPage(ctx);
  }));

  return router.routes() as unknown as Middleware;
}
