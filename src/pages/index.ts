// The human-facing pages (login, consent, logout, errors): what oidc-provider's interactions are sent to, and the
// routes that serve them. Everything they need is passed in from the composition root.
import type { Context, Middleware } from 'koa';
import type { AgentStore } from '../agents/agent-store.js';
import type { AgentBlockStore } from '../approvals/agent-block-store.js';
import type { ApprovalStore } from '../approvals/approval-store.js';
import type { RevocationService } from '../revocation/revocation-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { InTransaction } from '../db/transaction.js';
import { createAgentConsent } from './agent-consent.js';
import type { PendingRequests } from '../approvals/backchannel-approvals.js';
import { approvalsRoutes } from './approvals.js';
import type Provider from 'oidc-provider';
import type { LoginThrottle } from '../humans/login-throttle.js';
import type { UserStore } from '../humans/user-store.js';
import type { InteractionPages } from '../oauth/provider.js';
import type { ResourceStore } from '../resources/resource-store.js';
import { createCsrfGuard, deriveCsrfKey } from './csrf.js';
import { interactionRoutes } from './interactions.js';
import { createLogin } from './login.js';
import { endSessionPolicy, providerPages } from './provider-pages.js';
import { pageRefusalAudit } from './page-refusals.js';
import { renderErrorPage } from './render-page-error.js';
import { stylesheet } from './stylesheet.js';
import { createPageRenderer, viewsDirectory } from './views.js';
import { isUnder, onlyFor } from '../http/paths.js';

export type Pages = {
  interactions: InteractionPages;
  routes: Middleware[];
  /** The error page, for refusals the HTTP edge answers itself (src/http/edge.ts). */
  renderError(ctx: Context, status: number, title: string, detail: string): void;
};

export type PagesDependencies = {
  /** The issuer's path ('' when the issuer is an origin): every page lives under it. */
  prefix: string;
  /** The provider serving requests now (it is replaced when keys rotate, and built after the pages). */
  provider: () => Provider;
  users: UserStore;
  resources: ResourceStore;
  audit: AuditLog;
  inTransaction: InTransaction;
  throttle: LoginThrottle;
  /** The key-encryption key: the CSRF key is derived from it. */
  kek: Buffer;
  approvals: ApprovalStore;
  agents: AgentStore;
  revocation: RevocationService;
  /** How long a delegation granted on the consent page lasts unless the human shortens it. */
  approvalDefaultDays: number;
  /** Pending CIBA requests, answered on /approvals (set once the provider exists). */
  pending?: PendingRequests | undefined;
  blocks: AgentBlockStore;
};

export function createPages(deps: PagesDependencies): Pages {
  const directory = viewsDirectory();
  const css = stylesheet(deps.prefix, directory);
  const views = createPageRenderer({ stylesheet: css.url }, directory);
  const csrf = createCsrfGuard(deriveCsrfKey(deps.kek));
  const attemptLogin = createLogin({ audit: deps.audit, users: deps.users, throttle: deps.throttle });
  const { blocks } = deps;
  const agentConsent = createAgentConsent({ inTransaction: deps.inTransaction, agents: deps.agents, approvals: deps.approvals, blocks, defaultDays: deps.approvalDefaultDays, resources: deps.resources });

  return {
    renderError: (ctx, status, title, detail) => renderErrorPage(views, ctx, status, title, detail),
    interactions: {
      url: (_ctx, interaction) => `${deps.prefix}/interaction/${interaction.uid}`,
      ...providerPages(views),
    },
    routes: [
      pageRefusalAudit(deps.audit),
      css.route,
      endSessionPolicy(deps.prefix),
      onlyUnder(`${deps.prefix}/interaction`, interactionRoutes({ prefix: deps.prefix, provider: deps.provider, resources: deps.resources, audit: deps.audit, csrf, views, attemptLogin, agentConsent })),
      onlyUnder(`${deps.prefix}/approvals`, approvalsRoutes({
        prefix: deps.prefix, provider: deps.provider, audit: deps.audit, agents: deps.agents, users: deps.users, approvals: deps.approvals, blocks,
        revocation: deps.revocation, csrf, views, attemptLogin, kek: deps.kek, pending: deps.pending,
      })),
    ],
  };
}

/**
 * A pages router only for paths under its base: every other request (the token endpoint's above all) skips the
 * router's walk over its routes.
 */
function onlyUnder(base: string, routes: Middleware): Middleware {
  return onlyFor((ctx) => isUnder(ctx.path, base), routes);
}
