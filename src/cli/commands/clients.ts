// `agentauth clients create|list|update`: apps (OAuth clients that are not agents; agents are registered through the
// admin API). The same checks as the admin API's /clients apply (src/clients/client-store.ts validateApp, whose
// ceiling rule is the policy's); every write is audited in its transaction. A client secret is printed once and
// stored only as a keyed hash.
import { z } from 'zod';
import { appView } from '../../admin/views.js';
import { recordAuditEvent } from '../../audit/audit-log.js';
import {
  APP_GRANT_TYPES,
  APPLICATION_TYPES,
  AUTH_METHODS,
  createClientStore,
  defaultGrantTypes,
  type App,
  type AppChanges,
  type ApplicationType,
  type AuthMethod,
  type NewApp,
} from '../../clients/client-store.js';
import { InvalidInputError, NotFoundError } from '../../errors.js';
import { createResourceStore } from '../../resources/resource-store.js';
import { parseOptions, required } from '../args.js';
import { CLI_ACTOR, UsageError, type CliCommand, type CliContext } from '../context.js';

/** Options shared by create and update; lists given replace the stored ones. */
const APP_OPTIONS = {
  name: { type: 'string' },
  'redirect-uri': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  'grant-type': { type: 'string', multiple: true },
  jwks: { type: 'string' },
  'application-type': { type: 'string' },
  resource: { type: 'string', multiple: true },
  scope: { type: 'string', multiple: true },
  'resource-server': { type: 'string' },
  dpop: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const APP_USAGE =
  '[--redirect-uri <uri>]... [--post-logout-redirect-uri <uri>]... [--grant-type authorization_code|refresh_token|client_credentials]... ' +
  '[--application-type web|native] [--jwks <json>] [--resource <identifier>]... [--scope <name>]... [--resource-server <identifier>] [--dpop] [--json]';

/** The admin API's field names as this command's flags, for error messages. */
const FLAGS: Record<string, string> = {
  name: '--name',
  redirect_uris: '--redirect-uri',
  post_logout_redirect_uris: '--post-logout-redirect-uri',
  grant_types: '--grant-type',
  token_endpoint_auth_method: '--auth-method',
  application_type: '--application-type',
  jwks: '--jwks',
  resources: '--resource',
  scopes: '--scope',
  resource_server: '--resource-server',
  dpop_bound_access_tokens: '--dpop',
};

type AppOptions = {
  name?: string | undefined;
  'redirect-uri'?: string[] | undefined;
  'post-logout-redirect-uri'?: string[] | undefined;
  'grant-type'?: string[] | undefined;
  jwks?: string | undefined;
  'application-type'?: string | undefined;
  resource?: string[] | undefined;
  scope?: string[] | undefined;
  'resource-server'?: string | undefined;
  dpop?: boolean | undefined;
};

/** The options that were given, checked for form; what they refer to is checked by the store. */
function parseAppOptions(options: AppOptions): AppChanges {
  for (const grantType of options['grant-type'] ?? []) {
    if (!(APP_GRANT_TYPES as readonly string[]).includes(grantType)) throw new UsageError(`--grant-type must be one of ${APP_GRANT_TYPES.join(', ')}`);
  }
  const applicationType = options['application-type'];
  if (applicationType !== undefined && !(APPLICATION_TYPES as readonly string[]).includes(applicationType)) {
    throw new UsageError(`--application-type must be one of ${APPLICATION_TYPES.join(', ')}`);
  }
  for (const uri of [...(options['redirect-uri'] ?? []), ...(options['post-logout-redirect-uri'] ?? [])]) {
    if (!z.url().safeParse(uri).success || URL.parse(uri)?.hash) throw new UsageError(`not an absolute URI without a fragment: ${uri}`);
  }
  let jwks: { keys: unknown[] } | undefined;
  if (options.jwks !== undefined) {
    try {
      jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).parse(JSON.parse(options.jwks));
    } catch {
      throw new UsageError('--jwks must be a JSON Web Key Set: {"keys":[...]}');
    }
  }
  if (options.name !== undefined && (options.name.trim() === '' || options.name.length > 200)) throw new UsageError('--name: 1 to 200 characters');
  return {
    name: options.name?.trim(),
    redirectUris: options['redirect-uri'],
    postLogoutRedirectUris: options['post-logout-redirect-uri'],
    grantTypes: options['grant-type'] && [...new Set(options['grant-type'])],
    jwks,
    applicationType: applicationType as ApplicationType | undefined,
    resources: options.resource,
    // `--scope "a b"` is read as two scopes, the way OAuth writes a scope list.
    scopes: options.scope?.flatMap((value) => value.split(/\s+/).filter(Boolean)),
    resourceServer: options['resource-server'],
    dpopBoundAccessTokens: options.dpop,
  };
}

/** Runs the store's checks; their field errors come back naming this command's flags. */
async function validate(store: ReturnType<typeof createClientStore>, app: NewApp): Promise<void> {
  try {
    await store.validateApp(app);
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    const flag = (path: string) => FLAGS[path.split('.')[0]!] ?? path;
    throw new UsageError(error.details.map((d) => `${flag(d.path)}: ${d.message}`).join('; ') || error.message);
  }
}

const storeOf = (ctx: CliContext) => createClientStore(ctx.db.prisma, ctx.secrets, createResourceStore(ctx.db.prisma));

function printApp(ctx: CliContext, app: App): void {
  ctx.print(`client_id:     ${app.id}`);
  ctx.print(`name:          ${app.name}`);
  ctx.print(`grant_types:   ${app.grantTypes.join(' ') || '(none)'}`);
  ctx.print(`resources:     ${app.resources.join(' ') || '(none: no access token for any resource)'}`);
  ctx.print(`scopes:        ${app.scopes.join(' ') || '(none)'}`);
  if (app.resourceServer) ctx.print(`introspects:   ${app.resourceServer}`);
}

export const clientsCreate: CliCommand = {
  name: 'clients create',
  summary: 'register an app (OAuth client); prints client_id and, for secret authentication, the secret once',
  usage:
    `--name <name> [--auth-method client_secret_basic|client_secret_post|private_key_jwt|none] ${APP_USAGE}\n\n` +
    'Grant types default to authorization_code + refresh_token when a --redirect-uri is given, else client_credentials.\n' +
    'Deny by default: without --resource (and --scope, each defined by one of them) the app gets no access token for\n' +
    'any resource. A resource server\'s introspection client: --resource-server <identifier>, no --resource.',
  async run(ctx, args) {
    const options = parseOptions(args, { ...APP_OPTIONS, 'auth-method': { type: 'string' } });
    const authMethod = options['auth-method'] ?? 'client_secret_basic';
    if (!(AUTH_METHODS as readonly string[]).includes(authMethod)) throw new UsageError(`--auth-method must be one of ${AUTH_METHODS.join(', ')}`);
    const given = parseAppOptions(options);
    const redirectUris = given.redirectUris ?? [];
    const app: NewApp = {
      name: required(given.name, '--name'),
      redirectUris,
      postLogoutRedirectUris: given.postLogoutRedirectUris ?? [],
      grantTypes: given.grantTypes ?? defaultGrantTypes(redirectUris),
      authMethod: authMethod as AuthMethod,
      applicationType: given.applicationType,
      jwks: given.jwks,
      resources: given.resources ?? [],
      scopes: given.scopes ?? [],
      resourceServer: given.resourceServer ?? undefined,
      dpopBoundAccessTokens: given.dpopBoundAccessTokens ?? false,
    };
    const store = storeOf(ctx);
    await validate(store, app);
    const { created, stored } = await ctx.db.prisma.$transaction(async (tx) => {
      const created = await store.createApp(app, tx);
      const stored = await store.getApp(created.clientId, tx);
      await recordAuditEvent(tx, {
        ...CLI_ACTOR,
        action: 'client.created',
        outcome: 'success',
        clientId: stored.id,
        details: {
          name: stored.name,
          grant_types: stored.grantTypes,
          token_endpoint_auth_method: stored.authMethod,
          resources: stored.resources,
          scopes: stored.scopes,
          resource_server: stored.resourceServer,
        },
      });
      return { created, stored };
    });
    if (options.json) {
      ctx.print(JSON.stringify({ ...appView(stored), ...(created.clientSecret ? { client_secret: created.clientSecret } : {}) }));
      return;
    }
    printApp(ctx, stored);
    if (created.clientSecret) ctx.print(`client_secret: ${created.clientSecret}\n(shown once: store it now)`);
  },
};

export const clientsList: CliCommand = {
  name: 'clients list',
  summary: 'list apps: client_id, name, grant types, allowed resources and scope ceiling (never secrets)',
  usage: '[--json]',
  async run(ctx, args) {
    const options = parseOptions(args, { json: { type: 'boolean' } });
    const store = storeOf(ctx);
    const apps: App[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listApps({ limit: 200, cursor });
      apps.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    if (options.json) return ctx.print(JSON.stringify(apps.map(appView)));
    ctx.print(['client_id', 'name', 'grant_types', 'resources', 'scopes'].join('\t'));
    for (const app of apps) ctx.print([app.id, app.name, app.grantTypes.join(' ') || '-', app.resources.join(' ') || '-', app.scopes.join(' ') || '-'].join('\t'));
  },
};

export const clientsUpdate: CliCommand = {
  name: 'clients update',
  summary: "change an app: each list given (--resource, --scope, --redirect-uri, ...) replaces the app's list",
  usage: `--id <client_id> [--name <name>] ${APP_USAGE}`,
  async run(ctx, args) {
    const options = parseOptions(args, { ...APP_OPTIONS, id: { type: 'string' } });
    const id = required(options.id, '--id');
    const changes = parseAppOptions(options);
    if (Object.values(changes).every((value) => value === undefined)) throw new UsageError('name at least one thing to change');
    const store = storeOf(ctx);
    let next: NewApp;
    try {
      ({ next } = await store.changedApp(id, changes));
    } catch (error) {
      // Agents are clients too, but are changed through the admin API's /agents.
      if (error instanceof NotFoundError) throw new UsageError(`no app ${id} (agents are changed through the admin API)`);
      throw error;
    }
    await validate(store, next);
    const app = await ctx.db.prisma.$transaction(async (tx) => {
      const updated = await store.updateApp(id, next, tx);
      // Named as the admin API names them, so both kinds of `client.updated` event read alike.
      const fields = Object.entries(FLAGS)
        .filter(([, flag]) => options[flag.slice(2) as keyof typeof options] !== undefined)
        .map(([field]) => field);
      await recordAuditEvent(tx, {
        ...CLI_ACTOR,
        action: 'client.updated',
        outcome: 'success',
        clientId: id,
        details: { fields, resources: updated.resources, scopes: updated.scopes },
      });
      return updated;
    });
    if (options.json) return ctx.print(JSON.stringify(appView(app)));
    printApp(ctx, app);
  },
};
