// The interaction pages oidc-provider sends a browser to (`interactions.url`): login, then consent. Every POST
// reads its own small form body, checks its CSRF token before anything else, and finishes the interaction with
// oidc-provider, which answers with a 303 back into the authorization flow.
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { errors, type InteractionResults } from 'oidc-provider';
import type { AuditLog } from '../audit/audit-log.js';
import type { RequestState } from '../http/request-context.js';
import { MAX_PASSWORD_LENGTH } from '../humans/passwords.js';
import type { ResourceStore } from '../resources/resource-store.js';
import type { AgentConsent } from './agent-consent.js';
import { scopeField } from './agent-consent.js';
import { describeClient, describeConsent, saveConsentGrant, type ConsentRequest } from './consent.js';
import type { CsrfGuard, CsrfScope } from './csrf.js';
import { checkedForm } from './checked-form.js';
import type { FormFields } from './form-body.js';
import type { AttemptLogin } from './login.js';
import { interactionGone, PageError } from './page-error.js';
import { withPageErrors } from './render-page-error.js';
import type { PageRenderer } from './views.js';

export type InteractionRouteDependencies = {
  prefix: string;
  provider: () => Provider;
  resources: ResourceStore;
  audit: AuditLog;
  csrf: CsrfGuard;
  views: PageRenderer;
  attemptLogin: AttemptLogin;
  /** Consent for agent clients (src/pages/agent-consent.ts). */
  agentConsent: AgentConsent;
};

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;
type FormAction = 'login' | 'confirm' | 'abort';

// oidc-provider's interaction uids are nanoids; anything else cannot name an interaction.
const UID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_USERNAME_LENGTH = 256;

export function interactionRoutes(deps: InteractionRouteDependencies): Middleware {
  const { prefix, views, csrf } = deps;
  const base = (uid: string) => `${prefix}/interaction/${uid}`;
  const scope = (uid: string, action: FormAction): CsrfScope => ({ purpose: `interaction/${uid}/${action}`, path: base(uid) });
  const state = (ctx: Context) => ctx.state as Partial<RequestState>;

  /** The interaction the browser's cookie names, which must be the one in the URL. */
  async function interactionFor(ctx: Context, uid: string): Promise<Interaction> {
    let interaction: Interaction;
    try {
      interaction = await deps.provider().interactionDetails(ctx.req, ctx.res);
    } catch (error) {
      if (error instanceof errors.SessionNotFound) throw interactionGone();
      throw error;
    }
    if (interaction.uid !== uid) throw interactionGone();
    return interaction;
  }

  function uidOf(ctx: Context): string {
    const uid = (ctx as Context & { params: Record<string, string> }).params.uid ?? '';
    if (!UID.test(uid)) throw interactionGone();
    return uid;
  }

  /** The form of a POST, once its CSRF token checks out; a refusal is audited and answered with a 403 page. */
  function submittedForm(ctx: Context, uid: string, action: FormAction): Promise<FormFields> {
    return checkedForm(
      ctx,
      { csrf, audit: deps.audit },
      scope(uid, action),
      'The form was not sent from this sign-in page, or the page is out of date. Go back to the application and start again.',
    );
  }

  async function finish(ctx: Context, result: InteractionResults): Promise<void> {
    let returnTo: string;
    try {
      returnTo = await deps.provider().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    } catch (error) {
      if (error instanceof errors.SessionNotFound) throw interactionGone();
      throw error;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  async function renderLogin(ctx: Context, interaction: Interaction, extra: { username?: string; error?: string; status?: number } = {}) {
    const clientId = String(interaction.params.client_id ?? '');
    const client = await describeClient(deps.provider(), clientId);
    const loginHint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint : '';
    views.render(
      ctx,
      'login',
      {
        title: 'Sign in',
        clientName: client.name,
        username: extra.username ?? loginHint,
        error: extra.error,
        loginAction: `${base(interaction.uid)}/login`,
        loginToken: csrf.issue(ctx, scope(interaction.uid, 'login')),
        abortAction: `${base(interaction.uid)}/abort`,
        abortToken: csrf.issue(ctx, scope(interaction.uid, 'abort')),
        maxUsernameLength: MAX_USERNAME_LENGTH,
        maxPasswordLength: MAX_PASSWORD_LENGTH,
      },
      { status: extra.status ?? 200, formTargets: redirectTargets(interaction) },
    );
  }

  async function renderConsent(ctx: Context, interaction: Interaction) {
    const request = await describeConsent(deps.provider(), deps.resources, interaction);
    if (request.clientKind === 'agent') return renderAgentConsent(ctx, interaction, request);
    views.render(
      ctx,
      'consent',
      {
        title: 'Allow access',
        request,
        confirmAction: `${base(interaction.uid)}/confirm`,
        confirmToken: csrf.issue(ctx, scope(interaction.uid, 'confirm')),
        abortAction: `${base(interaction.uid)}/abort`,
        abortToken: csrf.issue(ctx, scope(interaction.uid, 'abort')),
      },
      { formTargets: redirectTargets(interaction) },
    );
  }

  /** An AI agent asks: say so, say whose it is, and let the human pick scopes and a duration. */
  async function renderAgentConsent(ctx: Context, interaction: Interaction, described: ConsentRequest) {
    const agent = await deps.agentConsent.describeAgent(described.clientId);
    // A human who blocked this agent is not asked again: the agent hears access_denied at once.
    if (interaction.session?.accountId && (await deps.agentConsent.isBlocked(interaction.session.accountId, agent.id))) {
      return finish(ctx, { error: 'access_denied', error_description: 'the user has blocked this agent' });
    }
    const request = await deps.agentConsent.withApprovalOnly(described);
    views.render(
      ctx,
      'agent-consent',
      {
        title: 'Allow an AI agent to act for you',
        request,
        agent,
        durations: deps.agentConsent.durations(),
        scopeField,
        confirmAction: `${base(interaction.uid)}/confirm`,
        confirmToken: csrf.issue(ctx, scope(interaction.uid, 'confirm')),
        abortAction: `${base(interaction.uid)}/abort`,
        abortToken: csrf.issue(ctx, scope(interaction.uid, 'abort')),
      },
      { formTargets: redirectTargets(interaction) },
    );
  }

  const router = new Router({ prefix });

  const page = (handler: (ctx: Context) => Promise<void>) => withPageErrors(views, handler);

  router.get('/interaction/:uid', page(async (ctx) => {
    const interaction = await interactionFor(ctx, uidOf(ctx));
    if (interaction.prompt.name === 'login') return renderLogin(ctx, interaction);
    if (interaction.prompt.name === 'consent') return renderConsent(ctx, interaction);
    throw new PageError(400, 'This sign-in step is not supported', 'Go back to the application and start again.');
  }));

  router.post('/interaction/:uid/login', page(async (ctx) => {
    const uid = uidOf(ctx);
    const form = await submittedForm(ctx, uid, 'login');
    const interaction = await interactionFor(ctx, uid);
    if (interaction.prompt.name !== 'login') throw alreadyDone();

    const username = (form.get('username') ?? '').trim();
    const password = form.get('password') ?? '';
    if (!username || !password) {
      return renderLogin(ctx, interaction, { username, status: 400, error: 'Enter your username and your password.' });
    }
    if (username.length > MAX_USERNAME_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
      return renderLogin(ctx, interaction, { status: 400, error: 'The username or password is too long.' });
    }

    const outcome = await deps.attemptLogin({
      username,
      password,
      ip: ctx.ip,
      requestId: state(ctx).requestId,
      clientId: typeof interaction.params.client_id === 'string' ? interaction.params.client_id : undefined,
    });
    if (!outcome.ok && outcome.reason === 'throttled') {
      ctx.set('Retry-After', String(outcome.retryAfterSeconds));
      const seconds = outcome.retryAfterSeconds === 1 ? '1 second' : `${outcome.retryAfterSeconds} seconds`;
      return renderLogin(ctx, interaction, { username, status: 429, error: `Too many attempts. Try again in ${seconds}.` });
    }
    if (!outcome.ok) return renderLogin(ctx, interaction, { username, status: 400, error: 'Invalid username or password.' });
    await finish(ctx, { login: { accountId: outcome.user.id, amr: ['pwd'] } });
  }));

  router.post('/interaction/:uid/confirm', page(async (ctx) => {
    const uid = uidOf(ctx);
    const form = await submittedForm(ctx, uid, 'confirm');
    const interaction = await interactionFor(ctx, uid);
    if (interaction.prompt.name !== 'consent') throw alreadyDone();

    const described = await describeConsent(deps.provider(), deps.resources, interaction);
    let grantId: string;
    let agentDetails: Record<string, unknown> = {};
    if (described.clientKind === 'agent') {
      const agent = await deps.agentConsent.describeAgent(described.clientId);
      const accountId = interaction.session?.accountId;
      if (accountId && (await deps.agentConsent.isBlocked(accountId, agent.id))) {
        return finish(ctx, { error: 'access_denied', error_description: 'the user has blocked this agent' });
      }
      const request = await deps.agentConsent.withApprovalOnly(described);
      const choice = deps.agentConsent.readChoice(form, request);
      const saved = await deps.agentConsent.save(deps.provider(), interaction, request, choice);
      grantId = saved.grantId;
      agentDetails = {
        agent_id: agent.id,
        approval_id: saved.approvalId,
        granted: Object.fromEntries(choice.granted),
        refused: Object.fromEntries(choice.rejected),
        duration_seconds: choice.seconds,
      };
    } else {
      grantId = await saveConsentGrant(deps.provider(), interaction);
    }
    await deps.audit.record({
      action: 'consent.granted',
      outcome: 'success',
      actor: { kind: 'human', id: interaction.session?.accountId },
      userId: interaction.session?.accountId,
      ...(described.clientKind === 'agent' ? { agentId: described.clientId } : {}),
      clientId: String(interaction.params.client_id),
      requestId: state(ctx).requestId,
      ip: ctx.ip,
      details: { grant_id: grantId, scope: interaction.params.scope, resource: interaction.params.resource, ...agentDetails },
    });
    await finish(ctx, { consent: { grantId } });
  }));

  router.post('/interaction/:uid/abort', page(async (ctx) => {
    const uid = uidOf(ctx);
    await submittedForm(ctx, uid, 'abort');
    const interaction = await interactionFor(ctx, uid);
    const accountId = interaction.session?.accountId;
    await deps.audit.record({
      action: interaction.prompt.name === 'login' ? 'login.cancelled' : 'consent.denied',
      outcome: 'failure',
      actor: { kind: 'human', id: accountId },
      userId: accountId,
      clientId: String(interaction.params.client_id),
      requestId: state(ctx).requestId,
      ip: ctx.ip,
      details: { prompt: interaction.prompt.name },
    });
    await finish(ctx, { error: 'access_denied', error_description: 'the user denied the request' });
  }));

  return router.routes() as unknown as Middleware;
}

function alreadyDone(): PageError {
  return new PageError(400, 'This step is already complete', 'Go back to the application and start again.');
}

/** Where the flow goes after our forms: the client's redirect URI (validated by oidc-provider before any prompt). */
function redirectTargets(interaction: Interaction): string[] {
  const uri = interaction.params.redirect_uri;
  return typeof uri === 'string' ? [uri] : [];
}
