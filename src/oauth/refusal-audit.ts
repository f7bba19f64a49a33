// The audit record of a request oidc-provider's endpoints refused: who asked (the authenticated client, or the client
// the request named when it could not authenticate, e.g. a suspended agent, recorded under its own id and kind),
// what was refused, with which error and policy rule. Never the secret or the token.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AgentStore } from '../agents/agent-store.js';
import { requestOrigin, type AuditLog } from '../audit/audit-log.js';
import type { Logger } from '../observability/logger.js';
import { ruleForProtocolError } from '../policy/rules.js';
import type { ProviderOptions } from './provider.js';

/** The client id a request names: `client_id`, or the user part of HTTP Basic credentials (RFC 6749 §2.3.1). */
function namedClientId(ctx: KoaContextWithOIDC): string | undefined {
  const param = ctx.oidc?.params?.client_id;
  if (typeof param === 'string') return param;
  const [scheme, value] = (ctx.headers.authorization ?? '').split(' ');
  if (scheme?.toLowerCase() !== 'basic' || !value) return undefined;
  const user = Buffer.from(value, 'base64').toString('utf8').split(':')[0];
  try {
    return user ? decodeURIComponent(user.replace(/\+/g, '%20')) : undefined;
  } catch {
    return undefined;
  }
}

export function refusalAuditor(deps: { audit: AuditLog; agents: AgentStore; log: Logger }): NonNullable<ProviderOptions['auditRefusal']> {
  return (ctx, endpoint, error) => {
    void (async () => {
      const authenticated = ctx.oidc?.client;
      const clientId = authenticated?.clientId ?? namedClientId(ctx);
      let kind = (authenticated as { principal_kind?: 'app' | 'agent' } | undefined)?.principal_kind;
      let rule = error.rule ?? ruleForProtocolError(error.error, error.error_description);
      // A client that could not authenticate may still be a known agent (suspended, or a wrong secret): say so.
      if (!kind && clientId && clientId.length <= 2048) {
        const agent = await deps.agents.describe(clientId).catch(() => undefined);
        if (agent) kind = 'agent';
        if (agent?.status === 'suspended') rule = 'client_suspended';
      }
      await deps.audit.record({
        action: `${endpoint}.refused`,
        outcome: 'failure',
        actor: { kind: kind ?? 'app', id: clientId },
        agentId: kind === 'agent' ? clientId : undefined,
        clientId,
        ...requestOrigin(ctx),
        details: { error: error.error ?? error.message, description: error.error_description, rule, grant_type: ctx.oidc?.params?.grant_type },
      });
    })().catch((failure: unknown) => deps.log.warn({ err: failure }, 'could not audit a refused request'));
  };
}
