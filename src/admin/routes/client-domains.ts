// /admin/v1/client-domains: the trust policy for clients that arrive by themselves (Client ID Metadata Documents,
// DCR). A deny rule refuses every such client under the domain (and its subdomains) from the next request, and
// revokes at once everything its agents hold (tokens, approvals) through the revocation service. Allow rules matter
// when AGENTAUTH_DYNAMIC_CLIENT_TRUST=allowlist: then only allowed domains are admitted.
import { recordAuditEvent } from '../../audit/audit-log.js';
import { normalizeDomain } from '../../clients/dynamic-client-store.js';
import { InvalidInputError } from '../../errors.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { clientDomainPutSchema, clientDomainSchema, clientDomainWrittenSchema, listOf } from '../schemas.js';
import { adminEvent, type AdminServices } from '../services.js';

const TAG = 'client-domains';

export function clientDomainRoutes(s: AdminServices): AdminRoute[] {
  const view = (rule: { domain: string; rule: 'allow' | 'deny'; createdAt: Date }) => ({ domain: rule.domain, rule: rule.rule, created_at: rule.createdAt.toISOString() });
  const domainOf = (value: string) => {
    const domain = normalizeDomain(value);
    if (!domain) throw new InvalidInputError('not a domain name', [{ path: 'domain', message: 'a host name such as clients.example.com' }]);
    return domain;
  };
  return [
    defineRoute({
      method: 'GET',
      path: '/client-domains',
      operationId: 'listClientDomains',
      tag: TAG,
      summary: 'The domain rules for clients that arrive by themselves (CIMD, DCR)',
      response: listOf(clientDomainSchema),
      handle: async () => ({ items: (await s.dynamicClients.domains.list()).map(view), next_cursor: null }),
    }),
    defineRoute({
      method: 'POST',
      path: '/client-domains',
      operationId: 'putClientDomain',
      tag: TAG,
      summary: 'Allow or deny a domain; denying revokes at once what its agents hold',
      body: clientDomainPutSchema,
      response: clientDomainWrittenSchema,
      handle: async ({ body, actor }) => {
        const domain = domainOf(body.domain);
        const rule = await s.dynamicClients.domains.put(domain, body.rule);
        const agents = body.rule === 'deny' ? await s.dynamicClients.agentsInDomain(domain) : [];
        let revoked = 0;
        for (const agentId of agents) {
          revoked += (await s.revocation.revoke({ agentId }, actor, `client domain ${domain} denied`)).revoked;
        }
        await recordAuditEvent(s.prisma, adminEvent(actor, 'client_domain.set', { details: { domain, rule: body.rule, agents, tokens_revoked: revoked } }));
        return { ...view(rule), tokens_revoked: revoked, agents_affected: agents };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/client-domains/{domain}',
      operationId: 'deleteClientDomain',
      tag: TAG,
      summary: 'Remove a domain rule; answers the rule removed',
      response: clientDomainSchema,
      errors: [404],
      handle: async ({ params, actor }) => {
        const removed = await s.dynamicClients.domains.remove(domainOf(params.domain!));
        await recordAuditEvent(s.prisma, adminEvent(actor, 'client_domain.removed', { details: { domain: removed.domain, rule: removed.rule } }));
        return view(removed);
      },
    }),
  ];
}
