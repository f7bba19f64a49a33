// The first admin key. At start, if no admin key has ever existed (revoked ones count: they are never deleted), the
// server creates one: from AGENTAUTH_BOOTSTRAP_ADMIN_KEY when set, else generated and printed once to the console.
// Afterwards the variable is ignored, so a revoked bootstrap key never comes back. A transaction-scoped PostgreSQL
// advisory lock makes processes starting together on one database take turns: exactly one of them bootstraps.
import type { PrismaClient } from '../db/client.js';
import { recordAuditEvent } from '../audit/audit-log.js';
import type { SecretHasher } from '../secrets/secret-hasher.js';
import { createAdminKeyStore } from './admin-keys.js';

const BOOTSTRAP_LOCK = 'agentauth admin key bootstrap';

export type BootstrapOptions = {
  /** AGENTAUTH_BOOTSTRAP_ADMIN_KEY, if set. */
  configuredKey: string | undefined;
  log: { info(obj: object, msg?: string): void };
  /**
   * Where a generated key is shown: the console (stdout) as plain text, deliberately not the structured log, which
   * is shipped and kept elsewhere.
   */
  print?: (line: string) => void;
  /** The issuer, to point a newcomer at the admin API in the next steps printed with a generated key. */
  issuer?: string;
};

export type BootstrapOutcome = 'configured' | 'generated' | 'not needed';

export async function bootstrapAdminKey(prisma: PrismaClient, secrets: SecretHasher, options: BootstrapOptions): Promise<BootstrapOutcome> {
  const store = createAdminKeyStore(prisma, secrets);
  const created = await prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${BOOTSTRAP_LOCK}))`;
    if ((await tx.adminKey.count()) > 0) return undefined;
    const { adminKey, key } = await store.create({ name: 'bootstrap', role: 'admin', createdBy: null, ...(options.configuredKey ? { secret: options.configuredKey } : {}) }, tx);
    const source = options.configuredKey ? 'AGENTAUTH_BOOTSTRAP_ADMIN_KEY' : 'generated';
    await recordAuditEvent(tx, {
      action: 'admin_key.created',
      outcome: 'success',
      actor: { kind: 'system' },
      details: { id: adminKey.id, name: adminKey.name, role: adminKey.role, bootstrap: true, source },
    });
    return { adminKey, key };
  });
  if (!created) return 'not needed';
  if (options.configuredKey) {
    options.log.info({ admin_key_id: created.adminKey.id }, 'bootstrap admin key stored from AGENTAUTH_BOOTSTRAP_ADMIN_KEY');
    return 'configured';
  }
  // Printed only after the commit: a key shown must be a key that exists.
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  print(firstStartMessage(created.key, options.issuer));
  options.log.info({ admin_key_id: created.adminKey.id }, 'bootstrap admin key generated and printed to the console');
  return 'generated';
}

/**
 * What a person who just ran `npm start` for the first time needs next: the key (first line, alone, so scripts can
 * pick it up), then where to go with it. One console write, so the lines stay together.
 */
function firstStartMessage(key: string, issuer: string | undefined): string {
  const lines = [`agentauth: bootstrap admin key (shown once, store it now): ${key}`];
  if (issuer !== undefined) {
    lines.push(
      '',
      'Next steps:',
      `  export ADMIN_KEY=${key}`,
      `  curl -H "Authorization: Bearer $ADMIN_KEY" ${issuer}/admin/v1/users     # the admin API`,
      `  Admin API reference (OpenAPI 3.1): ${issuer}/admin/v1/openapi.json`,
      '  Quick start (a human, a resource, an agent, then a delegated token): README.md, section "Quick start"',
      '',
    );
  }
  return lines.join('\n');
}
