// What the admin API's routes work with: the stores and services of the running server, plus the admin API's own
// stores and queries, and the helper that turns "this admin did X" into an audit event.
import type { ClientMetadata } from 'oidc-provider';
import type { AgentStore } from '../agents/agent-store.js';
import type { ApprovalStore } from '../approvals/approval-store.js';
import type { AuditAction } from '../audit/actions.js';
import type { ClientStore } from '../clients/client-store.js';
import type { AuditEventInput } from '../audit/audit-log.js';
import type { DynamicClientStore } from '../clients/dynamic-client-store.js';
import type { PrismaClient } from '../db/client.js';
import type { TrustedIssuerStore } from '../federation/trusted-issuer-store.js';
import type { ExternalIdentityStore } from '../humans/external-identity-store.js';
import type { UserStore } from '../humans/user-store.js';
import type { ResourceStore } from '../resources/resource-store.js';
import type { RevocationService, Revoker } from '../revocation/revocation-service.js';
import type { AdminKeyStore } from './admin-keys.js';
import type { createAuditEventQuery } from './audit-events.js';
import type { DecisionDryRun } from './decisions.js';
import type { IssuedTokenQuery } from './issued-tokens.js';

export type AdminServices = {
  prisma: PrismaClient;
  adminKeys: AdminKeyStore;
  users: UserStore;
  /** Humans' accounts at trusted issuers (ID-JAG subjects). */
  externalIdentities: ExternalIdentityStore;
  /** Outside JWT issuers trusted for agents' workload identities and for ID-JAGs. */
  trustedIssuers: TrustedIssuerStore;
  resources: ResourceStore;
  agents: AgentStore;
  /** Apps (OAuth clients that are not agents). */
  clients: ClientStore;
  approvals: ApprovalStore;
  revocation: RevocationService;
  /** Clients that arrive by themselves: their domain rules and agents. */
  dynamicClients: DynamicClientStore;
  issuedTokens: IssuedTokenQuery;
  auditEvents: ReturnType<typeof createAuditEventQuery>;
  /** The policy's dry run (POST /admin/v1/decisions). */
  decisions: DecisionDryRun;
  /** oidc-provider's own check of client metadata (what dynamic registration runs), for apps' and agents' OAuth side. */
  validateClientMetadata(metadata: ClientMetadata): Promise<void>;
};

/** An audit event for an admin's action: actor kind `admin`, the admin key's id, the request id and address. */
export function adminEvent(
  actor: Revoker,
  action: AuditAction,
  about: Pick<AuditEventInput, 'userId' | 'agentId' | 'clientId' | 'details'> = {},
): AuditEventInput {
  return { ...actor, action, outcome: 'success', ...about };
}
