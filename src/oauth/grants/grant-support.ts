// What this server's own grants (token exchange, jwt-bearer) share: minting a resource-bound RFC 9068 access token
// with no oidc-provider Grant behind it (an approval stands behind it instead, and revoking the approval revokes the
// token through its record), and turning a policy refusal into the audited OAuth error.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { AuditAction } from '../../audit/actions.js';
import { requestOrigin, type AuditLog } from '../../audit/audit-log.js';
import type { PolicyRefusal } from '../../policy/rules.js';
import { resourceServerInfo } from '../provider.js';
import { clientFacts } from '../request-facts.js';

/** An unsaved access token of the authenticated client for `audience`, as a JWT living `lifetime` seconds. */
export function resourceAccessToken(ctx: KoaContextWithOIDC, options: { accountId: string; scopes: string[]; grantType: string; audience: string; lifetime: number }) {
  const { provider } = ctx.oidc;
  const token = new provider.AccessToken({
    accountId: options.accountId,
    client: ctx.oidc.client!,
    scope: options.scopes.join(' '),
    gty: options.grantType,
    expiresIn: options.lifetime,
  } as unknown as ConstructorParameters<typeof provider.AccessToken>[0]);
  token.resourceServer = new provider.ResourceServer(options.audience, resourceServerInfo(options.audience, options.scopes, options.lifetime));
  return token;
}

/**
 * Records a refusal of this server's grant (the rule, the error, the description and `details`), marks it audited
 * (so the token endpoint's own refusal audit does not record it twice) and answers the OAuth error carrying the rule.
 */
export async function refuseGrant(ctx: KoaContextWithOIDC, audit: AuditLog, refusal: PolicyRefusal, action: AuditAction, details: Record<string, unknown> = {}): Promise<never> {
  (ctx.state as { refusalAudited?: boolean }).refusalAudited = true;
  const clientId = ctx.oidc.client?.clientId;
  const kind = clientFacts(ctx.oidc.client!).kind;
  await audit.record({
    action,
    outcome: 'failure',
    actor: { kind, id: clientId },
    agentId: kind === 'agent' ? clientId : undefined,
    clientId,
    ...requestOrigin(ctx),
    details: { rule: refusal.rule, error: refusal.code, description: refusal.message, ...details },
  });
  throw Object.assign(new errors.CustomOIDCProviderError(refusal.code, refusal.message), { rule: refusal.rule });
}
