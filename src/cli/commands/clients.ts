// `agentauth clients create`: registers an ordinary OAuth client (an app). Agents are registered through the
// admin API. The client secret, if any, is printed once and stored only as a keyed hash.
import { z } from 'zod';
import { AUTH_METHODS, createClientStore } from '../../clients/client-store.js';
import { createResourceStore } from '../../resources/resource-store.js';
import { parseOptions, required } from '../args.js';
import { UsageError, type CliCommand } from '../context.js';

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

export const clientsCreate: CliCommand = {
  name: 'clients create',
  summary: 'register an app (OAuth client); prints client_id and, for secret authentication, the secret once',
  usage:
    '--name <name> [--redirect-uri <uri>]... [--post-logout-redirect-uri <uri>]... [--grant-type <type>]... ' +
    '[--auth-method client_secret_basic|client_secret_post|private_key_jwt|none] [--jwks <json>] [--scope "<a b>"] [--dpop] ' +
    '[--resource-server <identifier>] [--json]',
  async run(ctx, args) {
    const options = parseOptions(args, {
      name: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'grant-type': { type: 'string', multiple: true },
      'auth-method': { type: 'string' },
      jwks: { type: 'string' },
      scope: { type: 'string' },
      dpop: { type: 'boolean' },
      'resource-server': { type: 'string' },
      json: { type: 'boolean' },
    });
    const grantTypes = options['grant-type'] ?? ['authorization_code', 'refresh_token'];
    for (const grantType of grantTypes) {
      if (!(GRANT_TYPES as readonly string[]).includes(grantType)) throw new UsageError(`--grant-type must be one of ${GRANT_TYPES.join(', ')}`);
    }
    const authMethod = options['auth-method'] ?? 'client_secret_basic';
    if (!(AUTH_METHODS as readonly string[]).includes(authMethod)) throw new UsageError(`--auth-method must be one of ${AUTH_METHODS.join(', ')}`);
    const redirectUris = options['redirect-uri'] ?? [];
    if (grantTypes.includes('authorization_code') && redirectUris.length === 0) throw new UsageError('--redirect-uri is required for authorization_code');
    for (const uri of [...redirectUris, ...(options['post-logout-redirect-uri'] ?? [])]) {
      if (!z.string().url().safeParse(uri).success) throw new UsageError(`not an absolute URI: ${uri}`);
    }
    let jwks: { keys: unknown[] } | undefined;
    if (options.jwks !== undefined) {
      try {
        jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).parse(JSON.parse(options.jwks));
      } catch {
        throw new UsageError('--jwks must be a JSON Web Key Set: {"keys":[...]}');
      }
    }
    if (authMethod === 'private_key_jwt' && !jwks) throw new UsageError('--jwks is required for private_key_jwt');
    if (options['resource-server'] && !(await createResourceStore(ctx.db.prisma).findByIdentifier(options['resource-server']))) {
      throw new UsageError(`--resource-server names no registered resource: ${options['resource-server']}`);
    }

    const created = await createClientStore(ctx.db.prisma, ctx.secrets).createApp({
      name: required(options.name, '--name'),
      redirectUris,
      postLogoutRedirectUris: options['post-logout-redirect-uri'] ?? [],
      grantTypes,
      authMethod: authMethod as (typeof AUTH_METHODS)[number],
      ...(jwks ? { jwks } : {}),
      ...(options.scope ? { scope: options.scope } : {}),
      dpopBoundAccessTokens: options.dpop ?? false,
      ...(options['resource-server'] ? { resourceServer: options['resource-server'] } : {}),
    });
    if (options.json) {
      ctx.print(JSON.stringify({ client_id: created.clientId, client_secret: created.clientSecret }));
      return;
    }
    ctx.print(`client_id:     ${created.clientId}`);
    if (created.clientSecret) ctx.print(`client_secret: ${created.clientSecret}\n(shown once: store it now)`);
  },
};
