// `agentauth admin-keys create`: a new admin API key, printed once (stdout) and stored only as its keyed hash. With
// database access this is the way in when no admin key is at hand (e.g. every key was revoked). Audited as the
// CLI's admin (there is no admin key acting).
import { createAdminKeyStore, type AdminRole } from '../../admin/admin-keys.js';
import { recordAuditEvent } from '../../audit/audit-log.js';
import { parseOptions, required } from '../args.js';
import { CLI_ACTOR, UsageError, type CliCommand } from '../context.js';

const ROLES: AdminRole[] = ['admin', 'auditor'];

export const adminKeysCreate: CliCommand = {
  name: 'admin-keys create',
  summary: 'create an admin API key (role admin or auditor); prints the key once',
  usage: '--name <name> [--role admin|auditor] [--json]',
  async run(ctx, args) {
    const options = parseOptions(args, { name: { type: 'string' }, role: { type: 'string' }, json: { type: 'boolean' } });
    const name = required(options.name, '--name').trim();
    if (name.length === 0 || name.length > 200) throw new UsageError('--name: 1 to 200 characters');
    const role = (options.role ?? 'admin') as AdminRole;
    if (!ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);

    const store = createAdminKeyStore(ctx.db.prisma, ctx.secrets);
    const { adminKey, key } = await ctx.db.prisma.$transaction(async (tx) => {
      const created = await store.create({ name, role, createdBy: null }, tx);
      await recordAuditEvent(tx, {
        ...CLI_ACTOR,
        action: 'admin_key.created',
        outcome: 'success',
        details: { id: created.adminKey.id, name, role, via: 'cli' },
      });
      return created;
    });
    if (options.json) {
      ctx.print(JSON.stringify({ id: adminKey.id, name: adminKey.name, role: adminKey.role, key }));
      return;
    }
    ctx.print(`admin key id: ${adminKey.id} (${adminKey.role})`);
    ctx.print(`key:          ${key}\n(shown once: store it now)`);
  },
};
