// The admin API under {issuer path}/admin/v1: one Koa middleware that authenticates the admin key, finds the
// declared route, checks the role, validates query and body, and runs the handler, with every error answered in
// the admin error shape. Requests outside /admin/v1 pass through untouched (and unparsed) to the provider.
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { ClientMetadata } from 'oidc-provider';
import { z } from 'zod';
import type { AgentStore } from '../agents/agent-store.js';
import type { ApprovalStore } from '../approvals/approval-store.js';
import type { DynamicClientStore } from '../clients/dynamic-client-store.js';
import type { ClientStore } from '../clients/client-store.js';
import type { PrismaClient } from '../db/client.js';
import { recordAuditEvent, requestOrigin } from '../audit/audit-log.js';
import { NotFoundError } from '../errors.js';
import { createTrustedIssuerStore } from '../federation/trusted-issuer-store.js';
import { createExternalIdentityStore } from '../humans/external-identity-store.js';
import { recordablePath } from '../http/input-rules.js';
import { isUnder, onlyFor } from '../http/paths.js';
import type { UserStore } from '../humans/user-store.js';
import type { ResourceStore } from '../resources/resource-store.js';
import type { RevocationService } from '../revocation/revocation-service.js';
import type { RequestFacts } from '../policy/facts.js';
import type { SecretHasher } from '../secrets/secret-hasher.js';
import { createAdminKeyStore } from './admin-keys.js';
import { createAuditEventQuery } from './audit-events.js';
import { authenticateAdmin, authorize } from './auth.js';
import { AdminHttpError, AGENT_ID, errorBoundary, parseInput, readJsonBody, UUID } from './http.js';
import { createIssuedTokenQuery } from './issued-tokens.js';
import { openApiDocument } from './openapi.js';
import { pathMatcher, type AdminRoute } from './route.js';
import { adminKeyRoutes } from './routes/admin-keys.js';
import { agentRoutes } from './routes/agents.js';
import { clientDomainRoutes } from './routes/client-domains.js';
import { approvalRoutes } from './routes/approvals.js';
import { clientRoutes } from './routes/clients.js';
import { auditRoutes } from './routes/audit.js';
import { resourceRoutes } from './routes/resources.js';
import { trustedIssuerRoutes } from './routes/trusted-issuers.js';
import { revocationRoutes } from './routes/revocations.js';
import { decisionRoutes } from './routes/decisions.js';
import { createDecisionDryRun } from './decisions.js';
import { tokenRoutes } from './routes/tokens.js';
import { userRoutes } from './routes/users.js';
import type { AdminServices } from './services.js';

export { bootstrapAdminKey } from './bootstrap.js';

/** Routes without query parameters refuse any (a misspelt filter must not silently list everything). */
const NO_QUERY = z.strictObject({});

export type AdminApiDependencies = {
  /** The issuer's path ('' when the issuer is an origin); the API lives at `${prefix}/admin/v1`. */
  prefix: string;
  prisma: PrismaClient;
  secrets: SecretHasher;
  stores: {
    users: UserStore;
    resources: ResourceStore;
    agents: AgentStore;
    approvals: ApprovalStore;
    revocation: RevocationService;
    clients: ClientStore;
    dynamicClients: DynamicClientStore;
  };
  /** The policy's limits that are configuration (step-up lifetime, delegation depth), for the dry run. */
  limits: RequestFacts['limits'];
  /** The provider serving requests now (replaced on key rotation): it validates agents' client metadata. */
  provider: () => Provider;
  /**
   * Trusted issuers' jwks_uri may name a loopback host (config `dynamicClients.allowLoopbackFetch`, development and
   * tests only); absent: refused.
   */
  federation?: { allowLoopbackJwksUri: boolean } | undefined;
};

/** Every route of the API, in the order the OpenAPI document lists them. */
export function adminRoutes(services: AdminServices): AdminRoute[] {
  return [
    ...adminKeyRoutes(services),
    ...userRoutes(services),
    ...resourceRoutes(services),
    ...agentRoutes(services),
    ...trustedIssuerRoutes(services),
    ...clientDomainRoutes(services),
    ...clientRoutes(services),
    ...approvalRoutes(services),
    ...tokenRoutes(services),
    ...decisionRoutes(services),
    ...revocationRoutes(services),
    ...auditRoutes(services),
  ];
}

export function createAdminApi(deps: AdminApiDependencies): Middleware {
  const base = `${deps.prefix}/admin/v1`;
  const services: AdminServices = {
    prisma: deps.prisma,
    adminKeys: createAdminKeyStore(deps.prisma, deps.secrets),
    ...deps.stores,
    externalIdentities: createExternalIdentityStore(deps.prisma),
    trustedIssuers: createTrustedIssuerStore(deps.prisma, { resources: deps.stores.resources, allowLoopbackJwksUri: deps.federation?.allowLoopbackJwksUri ?? false }),
    issuedTokens: createIssuedTokenQuery(deps.prisma),
    auditEvents: createAuditEventQuery(deps.prisma),
    decisions: createDecisionDryRun({ ...deps.stores, limits: deps.limits }),
    validateClientMetadata: (metadata: ClientMetadata) => deps.provider().Client.validate(metadata),
  };
  const routes = adminRoutes(services).map((route) => ({ route, match: pathMatcher(route.path) }));
  let document: Record<string, unknown> | undefined;
  const boundary = errorBoundary();

  /** A key refused (401) or a role overstepped (403): on the record with the rule, never with the key. */
  async function refused(ctx: Context, error: unknown, rule: string, keyId?: string): Promise<never> {
    await recordAuditEvent(deps.prisma, {
      action: 'admin.refused',
      outcome: 'failure',
      actor: { kind: 'admin', id: keyId },
      ...requestOrigin(ctx),
      details: { rule, method: ctx.method, path: recordablePath(ctx.path), status: (error as { status?: number }).status },
    });
    throw error;
  }

  async function dispatch(ctx: Context): Promise<void> {
    const path = ctx.path.slice(base.length) || '/';
    const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
    if (path === '/openapi.json' && method === 'GET') {
      ctx.body = document ??= openApiDocument(
        routes.map(({ route }) => route),
        base,
      );
      return;
    }

    const admin = await authenticateAdmin(ctx, services.adminKeys).catch((error: unknown) => refused(ctx, error, ctx.get('authorization') === '' ? 'admin_key.missing' : 'admin_key.invalid'));
    const candidates = routes.flatMap(({ route, match }) => {
      const params = match(path);
      return params ? [{ route, params }] : [];
    });
    if (candidates.length === 0) throw new AdminHttpError(404, 'not_found', `no admin API route ${path}`);
    const found = candidates.find(({ route }) => route.method === method);
    if (!found) {
      ctx.set('Allow', candidates.map(({ route }) => route.method).join(', '));
      throw new AdminHttpError(405, 'method_not_allowed', `${ctx.method} is not allowed here`);
    }
    const { route, params } = found;
    try {
      authorize(admin, route.method, route.readOnly);
    } catch (error) {
      return refused(ctx, error, 'role.read_only', admin.id);
    }
    // Every id in a path is a UUID unless the route says otherwise (an agent's may be its metadata document URL);
    // anything else names nothing (and must not reach a uuid column).
    const defaultId = route.path.startsWith('/agents/') ? AGENT_ID : route.path.startsWith('/client-domains/') ? /^[a-z0-9.-]{1,253}$/i : UUID;
    for (const [name, value] of Object.entries(params)) {
      if (!(route.params?.[name] ?? defaultId).test(value)) throw new NotFoundError(`no record ${value}`);
    }

    const query = parseInput(route.query ?? NO_QUERY, ctx.query, 'query');
    const body = route.body ? parseInput(route.body, await readJsonBody(ctx), 'body') : undefined;
    const result = await route.handle({
      ctx,
      params,
      query,
      body,
      admin,
      actor: { actor: { kind: 'admin', id: admin.id }, ...requestOrigin(ctx) },
    });
    ctx.status = route.status;
    ctx.body = result;
  }

  return onlyFor((ctx) => isUnder(ctx.path, base), async (ctx) => {
    // Responses carry secrets shown once and live records: no cache may keep them.
    ctx.set('Cache-Control', 'no-store');
    await boundary(ctx, () => dispatch(ctx));
  });
}

