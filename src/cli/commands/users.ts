// `agentauth users create`: a human account. The password comes from standard input only (--password-stdin): an
// argument would sit in the shell history and in every process listing.
import { createUserStore, UserInputError } from '../../humans/user-store.js';
import { parseOptions, readStdin, required } from '../args.js';
import { recordAuditEvent } from '../../audit/audit-log.js';
import { CLI_ACTOR, UsageError, type CliCommand } from '../context.js';

export const usersCreate: CliCommand = {
  name: 'users create',
  summary: 'create a human account; the password is read from standard input',
  usage: '--username <username> [--display-name <name>] --password-stdin [--json]',
  async run(ctx, args) {
    const options = parseOptions(args, {
      username: { type: 'string' },
      'display-name': { type: 'string' },
      'password-stdin': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    const username = required(options.username, '--username');
    if (!options['password-stdin']) throw new UsageError('--password-stdin is required: pipe the password in, e.g. `printf %s "$PASSWORD" | agentauth users create ...`');
    const password = await readStdin();
    if (!password) throw new UsageError('no password on standard input');
    try {
      const store = createUserStore(ctx.db.prisma);
      const user = await ctx.db.prisma.$transaction(async (tx) => {
        const created = await store.create({ username, password, ...(options['display-name'] ? { displayName: options['display-name'] } : {}) }, tx);
        await recordAuditEvent(tx, { ...CLI_ACTOR, action: 'user.created', outcome: 'success', userId: created.id, details: { username: created.username } });
        return created;
      });
      ctx.print(
        options.json
          ? JSON.stringify({ id: user.id, username: user.username, display_name: user.displayName, status: user.status })
          : `created user ${user.username} (id ${user.id})`,
      );
    } catch (error) {
      if (error instanceof UserInputError) throw new UsageError(error.message);
      throw error;
    }
  },
};
