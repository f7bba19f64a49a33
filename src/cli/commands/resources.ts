// `agentauth resources create|list`: the registry of resource servers (token audiences) and their scopes.
import { ZodError } from 'zod';
import { createResourceStore, ResourceExistsError, type ResourceScope } from '../../resources/resource-store.js';
import { parseOptions, required } from '../args.js';
import { UsageError, type CliCommand } from '../context.js';

/** `name:description` or `name:description:approval` (the scope needs a fresh human approval every time). */
function parseScope(text: string): ResourceScope {
  const [name, description, flag, ...rest] = text.split(':');
  if (!name || !description || rest.length > 0 || (flag !== undefined && flag !== 'approval')) {
    throw new UsageError(`--scope takes name:description or name:description:approval, got "${text}"`);
  }
  return { name, description, requires_approval: flag === 'approval' };
}

export const resourcesCreate: CliCommand = {
  name: 'resources create',
  summary: 'register a resource server (an audience) with its scopes',
  usage: '--identifier <uri> --name <name> [--scope name:description[:approval]]... [--access-token-ttl <seconds>] [--json]',
  async run(ctx, args) {
    const options = parseOptions(args, {
      identifier: { type: 'string' },
      name: { type: 'string' },
      scope: { type: 'string', multiple: true },
      'access-token-ttl': { type: 'string' },
      json: { type: 'boolean' },
    });
    const ttl = options['access-token-ttl'] === undefined ? undefined : Number(options['access-token-ttl']);
    try {
      const resource = await createResourceStore(ctx.db.prisma).create({
        identifier: required(options.identifier, '--identifier'),
        name: required(options.name, '--name'),
        scopes: (options.scope ?? []).map(parseScope),
        ...(ttl === undefined ? {} : { access_token_ttl: ttl }),
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
    for (const r of resources) ctx.print(`${r.identifier}\t${r.name}\t${r.scopes.map((s) => s.name).join(' ')}`);
  },
};
