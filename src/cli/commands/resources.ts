// `agentauth resources create|list`: the registry of resource servers (token audiences) and their scopes.
import { ZodError } from 'zod';
import { createResourceStore, ResourceExistsError, type ResourceScope } from '../../resources/resource-store.js';
import { parseOptions, required } from '../args.js';
import { recordAuditEvent } from '../../audit/audit-log.js';
import { CLI_ACTOR, UsageError, type CliCommand } from '../context.js';

/** `name=description` (scope names often contain ':', descriptions may contain '='). */
function parseScope(text: string, requiresApproval: boolean, flag: string): ResourceScope {
  const separator = text.indexOf('=');
  const name = text.slice(0, separator);
  const description = text.slice(separator + 1);
  if (separator <= 0 || !description) throw new UsageError(`${flag} takes name=description, got "${text}"`);
  return { name, description, requires_approval: requiresApproval };
}

export const resourcesCreate: CliCommand = {
  name: 'resources create',
  summary: 'register a resource server (an audience) with its scopes',
  usage:
    '--identifier <uri> --name <name> [--scope name=description]... [--approval-scope name=description]... ' +
    '[--access-token-ttl <seconds>] [--json]   (--approval-scope: a fresh human approval for every token)',
  async run(ctx, args) {
    const options = parseOptions(args, {
      identifier: { type: 'string' },
      name: { type: 'string' },
      scope: { type: 'string', multiple: true },
      'approval-scope': { type: 'string', multiple: true },
      'access-token-ttl': { type: 'string' },
      json: { type: 'boolean' },
    });
    const ttl = options['access-token-ttl'] === undefined ? undefined : Number(options['access-token-ttl']);
    try {
      const input = {
        identifier: required(options.identifier, '--identifier'),
        name: required(options.name, '--name'),
        scopes: [
          ...(options.scope ?? []).map((text) => parseScope(text, false, '--scope')),
          ...(options['approval-scope'] ?? []).map((text) => parseScope(text, true, '--approval-scope')),
        ],
        ...(ttl === undefined ? {} : { access_token_ttl: ttl }),
      };
      const store = createResourceStore(ctx.db.prisma);
      const resource = await ctx.db.prisma.$transaction(async (tx) => {
        const created = await store.create(input, tx);
        await recordAuditEvent(tx, { ...CLI_ACTOR, action: 'resource.created', outcome: 'success', details: { id: created.id, identifier: created.identifier } });
        return created;
      });
      ctx.print(options.json ? JSON.stringify(resource) : `registered ${resource.identifier} (${resource.scopes.length} scopes, tokens live ${resource.accessTokenTtl} s)`);
    } catch (error) {
      if (error instanceof ZodError) throw new UsageError(error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; '));
      if (error instanceof ResourceExistsError) throw new UsageError(error.message);
      throw error;
    }
  },
};

export const resourcesList: CliCommand = {
  name: 'resources list',
  summary: 'list registered resource servers',
  usage: '[--json]',
  async run(ctx, args) {
    const options = parseOptions(args, { json: { type: 'boolean' } });
    const resources = await createResourceStore(ctx.db.prisma).list();
    if (options.json) return ctx.print(JSON.stringify(resources));
    for (const r of resources) ctx.print(`${r.identifier}\t${r.name}\t${r.scopes.map((s) => `${s.name}${s.requires_approval ? '*' : ''}`).join(' ')}`);
    // Approval-only (requires_approval) scopes never come from a standing approval: say so where they are listed.
    if (resources.some((r) => r.scopes.some((s) => s.requires_approval))) ctx.print('* approval-only: a fresh human approval for every token');
  },
};
