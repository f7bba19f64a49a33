// The composition root: turns a Config into a running server (database, migrations, keys, provider, HTTP) and
// back down again. `main.ts` calls it for `npm start`; tests call it to run real servers in-process.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { connectDatabase, type Database } from './db/client.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './db/embedded.js';
import { applyMigrations } from './db/migrate.js';
import { createAuditLog, requestOrigin } from './audit/audit-log.js';
import { ensureDatabaseExists } from './db/create-database.js';
import { createApp } from './http/app.js';
import { outageLog } from './http/outage.js';
import { recordablePath } from './http/input-rules.js';
import { loadKek } from './keys/kek.js';
import { ensureKeys, loadKeys, type KeySet } from './keys/key-store.js';
import { startKeyWatcher } from './keys/key-watcher.js';
import { createAgentStore, TOKEN_EXCHANGE, type AgentStore } from './agents/agent-store.js';
import { createApprovalStore, type ApprovalStore } from './approvals/approval-store.js';
import { createAgentBlockStore } from './approvals/agent-block-store.js';
import { createBackchannelApprovals, isUnknownHintId } from './approvals/backchannel-approvals.js';
import { createCibaRequestStore } from './approvals/ciba-request-store.js';
import { rehashLegacyCibaIds } from './approvals/ciba-request-ids.js';
import { approvalNotifier } from './approvals/notifier.js';
import { createClientStore, type ClientStore } from './clients/client-store.js';
import { createDynamicClientStore } from './clients/dynamic-client-store.js';
import { clientIdMetadataDocument } from './oauth/client-id-metadata.js';
import { dynamicClientLookup, registrationFeature, registrationGuard } from './oauth/dynamic-registration.js';
import { canonicalResourceParameters } from './oauth/canonical-resource-parameters.js';
import { createRevocationService, type RevocationService } from './revocation/revocation-service.js';
import { createLoginThrottle } from './humans/login-throttle.js';
import { createTransactions } from './db/transaction.js';
import { createUserStore, type UserStore } from './humans/user-store.js';
import { createAdapterFactory, sweepExpiredPayloads } from './oauth/adapter.js';
import { protectedResourceMetadataRoute } from './resources/protected-resource-metadata.js';
import { createResourceStore, type ResourceStore } from './resources/resource-store.js';
import { createSecretHasher } from './secrets/secret-hasher.js';
import { createTokenRecorder } from './tokens/token-recorder.js';
import { createIssuedTokenStore } from './tokens/issued-token-store.js';
import { createClientLookupStore } from './clients/client-lookup-store.js';
import { createStandingApprovalStore } from './approvals/standing-approval-store.js';
import { createPayloadStore } from './oauth/payload-store.js';
import { jwtTokenHandles } from './oauth/jwt-token-handles.js';
import { PARAMETERS as TOKEN_EXCHANGE_PARAMETERS, REPEATABLE as TOKEN_EXCHANGE_REPEATABLE, tokenExchangeHandler } from './oauth/grants/token-exchange.js';
import { createRequestFactsLoader, remoteResourceCheck } from './oauth/request-facts.js';
import { refusalAuditor } from './oauth/refusal-audit.js';
import { createProvider } from './oauth/provider.js';
import type { JWK as JoseJwk } from 'jose';
import { createIdTokenResolver, createPresentedTokenReader, createTokenResolver, TOKEN_TYPE } from './tokens/subject-token.js';
import { createExchangeFactsStore } from './tokens/exchange-facts-store.js';
import { createFederationLookupStore } from './federation/federation-lookup-store.js';
import { createTrustedAssertions } from './oauth/trusted-assertions.js';
import { workloadAuthentication } from './oauth/workload-authentication.js';
import { ID_JAG_PROFILE, JWT_BEARER_GRANT, PARAMETERS as JWT_BEARER_PARAMETERS, REPEATABLE as JWT_BEARER_REPEATABLE, jwtBearerHandler } from './oauth/grants/jwt-bearer.js';
import { createPages } from './pages/index.js';
import { ProviderHost } from './oauth/provider-host.js';
import type { Logger } from './observability/logger.js';
import { bootstrapAdminKey, createAdminApi } from './admin/index.js';
import { deriveAuditKeys, startAuditChainer } from './audit/audit-chain.js';
import { createSecurityEventFeed } from './revocation/security-events.js';
import { securityEventPollRoute } from './oauth/security-event-poll.js';
import { listKeys } from './keys/key-store.js';
import { serverMetrics } from './observability/metrics.js';
import { metricsRoute, requestObservation, startMetricsServer } from './http/observability.js';

export type RunningServer = {
  url: string;
  issuer: string;
  db: Database;
  /** The stores this server runs on (the admin CLI and tests use the same ones). */
  stores: {
    clients: ClientStore;
    resources: ResourceStore;
    users: UserStore;
    agents: AgentStore;
    approvals: ApprovalStore;
    revocation: RevocationService;
  };
  provider: ProviderHost;
  /** Stops accepting connections, lets in-flight requests finish (up to the grace period), then releases everything. */
  close(): Promise<void>;
};

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const cleanup: Array<() => Promise<void>> = [];
  try {
    let databaseUrl = config.databaseUrl;
    if (databaseUrl === undefined) {
      const embedded: EmbeddedDatabase = await startEmbeddedDatabase(config.dataDir, log);
      cleanup.unshift(() => embedded.stop());
      databaseUrl = embedded.url;
    } else {
      await ensureDatabaseExists(databaseUrl, log);
    }

    await applyMigrations(databaseUrl, log);

    const db = connectDatabase(databaseUrl, log, config.dbPoolSize);
    cleanup.unshift(() => db.close());

    const kek = await loadKek(config.kek, config.dataDir);
    await ensureKeys(db.prisma, kek);
    const keys = await loadKeys(db.prisma, kek);
    // The key set in use; replaced when keys change (rotation), together with the provider built on it.
    const keyRing = { current: keys };

    // Listening comes before the provider exists because the default issuer names the bound port (PORT=0 picks
    // one); until the app is ready every request gets 503 rather than a hang.
    let handle: (req: http.IncomingMessage, res: http.ServerResponse) => unknown = (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"status":"starting"}');
    };
    // Requests still being handled, even those whose client has gone: shutdown waits for them before the pool closes.
    const inFlight = new Set<Promise<unknown>>();
    const httpServer = http.createServer((req, res) => {
      const handling = Promise.resolve(handle(req, res)).catch(() => undefined);
      inFlight.add(handling);
      void handling.finally(() => inFlight.delete(handling));
    });
    httpServer.keepAliveTimeout = 5_000;
    httpServer.listen(config.port, config.host);
    await once(httpServer, 'listening');
    const { port } = httpServer.address() as AddressInfo;
    cleanup.unshift(() => closeHttpServer(httpServer, inFlight, config.shutdownGraceMs));
    const issuer = config.issuer ?? `http://localhost:${port}`;

    const secrets = createSecretHasher(kek);
    await bootstrapAdminKey(db.prisma, secrets, { configuredKey: config.bootstrapAdminKey, log, issuer });
    // The token endpoint's reads and writes go through named statements on the pool, batched across concurrent
    // requests (src/db/batching.ts); nothing about clients, tokens or approvals is cached per process.
    const resources = createResourceStore(db.prisma, db.pool);
    const clients = createClientStore(db.prisma, secrets, resources);
    const issuedTokens = createIssuedTokenStore(db.pool);
    const clientLookup = createClientLookupStore(db.pool);
    const standingApprovals = createStandingApprovalStore(db.pool);
    const payloads = createPayloadStore(db.pool);
    const users = createUserStore(db.prisma);
    const agents = createAgentStore(db.prisma, { resources, secrets, config });
    const approvals = createApprovalStore(db.prisma, { resources, config });
    const revocation = createRevocationService(db.prisma, secrets.hash);
    const recorder = createTokenRecorder(issuedTokens, secrets.hash);
    // Clients that arrive by themselves (Client ID Metadata Documents, DCR): agents without an owner.
    const dynamicClients = createDynamicClientStore(db.prisma, { defaultTokenTtl: config.agents.defaultTokenTtl });
    const dynamicLookup = dynamicClientLookup({ clients: clientLookup, store: dynamicClients, resources, config });
    const clientIdMetadata = clientIdMetadataDocument({
      enabled: config.dynamicClients.cimd,
      allowLoopbackFetch: config.dynamicClients.allowLoopbackFetch,
      trust: config.dynamicClients.trust,
      store: dynamicClients,
      resources,
      defaultTokenTtl: config.agents.defaultTokenTtl,
      log,
    });
    const adapter = createAdapterFactory(db.prisma, { hashId: secrets.hash, clients: clientLookup, storeIssued: recorder.storeIssued,
      onRemove: recorder.onRemove(revocation),
      findPayload: payloads.find,
      dynamicClients: config.dynamicClients.dcr === 'off' ? { find: dynamicLookup.find } : dynamicLookup,
    });
    const issuerUrl = new URL(issuer);
    const prefix = issuerUrl.pathname.replace(/\/$/, '');
    const audit = createAuditLog(db.prisma);
    const limits = { stepUpTtl: config.ciba.stepUpTokenTtl, maxDelegationDepth: config.agents.maxDelegationDepth };
    // Trusted outside issuers: agents' platform assertions (workload identity federation) and enterprise IdPs' ID-JAGs.
    const federation = createFederationLookupStore(db.prisma);
    const trustedAssertions = createTrustedAssertions({ allowLoopback: config.dynamicClients.allowLoopbackFetch });
    const presentedTokens = createPresentedTokenReader({ hashId: secrets.hash, issuer, publicJwks: () => keyRing.current.publicJwks });
    const tokenExchange = tokenExchangeHandler({
      clients: clientLookup,
      resources,
      approvals: { ...approvals, standing: standingApprovals.standing },
      audit,
      resolveToken: createTokenResolver({ reader: presentedTokens, findRecord: issuedTokens.find }),
      exchangeFacts: createExchangeFactsStore(db.pool),
      presented: presentedTokens,
      limits,
      idJag: {
        issuer,
        resolveIdToken: createIdTokenResolver({ issuer, publicJwks: () => keyRing.current.publicJwks }),
        humanActive: async (userId) => (await users.findAccount(userId)) !== undefined,
        remoteClientId: federation.remoteClientId,
        signingKey: () => keyRing.current.signing[0]! as JoseJwk,
        record: (jti, payload) => recorder.recordIdJag(jti, payload),
      },
    });
    const jwtBearer = jwtBearerHandler({ issuer, lookup: federation, assertions: trustedAssertions, resources, approvals, audit, limits });
    const workload = workloadAuthentication({
      issuer,
      tokenEndpoint: `${issuer.replace(/\/$/, '')}/token`,
      endpoints: {
        [`${prefix}/token`]: 'token',
        [`${prefix}/token/introspection`]: 'introspection',
        [`${prefix}/token/revocation`]: 'revocation',
        [`${prefix}/backchannel`]: 'backchannel_authentication',
        [`${prefix}/request`]: 'authorization',
      },
      lookup: federation,
      assertions: trustedAssertions,
      audit,
      log,
    });
    const gather = createRequestFactsLoader({ resources, approvals, limits });
    const blocks = createAgentBlockStore(db.prisma);
    const throttle = createLoginThrottle(db.prisma);
    const inTransaction = createTransactions(db.prisma);
    const backchannel = createBackchannelApprovals({
      inTransaction, requests: createCibaRequestStore(db.prisma), users, agents, audit, provider: () => provider.current, approvals, blocks, resources, config, log,
      notifier: approvalNotifier(config, log),
      hashId: secrets.hash,
      storedReference: adapter.storedReference,
    });
    await rehashLegacyCibaIds(db.prisma, secrets.hash);
    const pages = createPages({
      prefix, provider: () => provider.current, users, resources, audit, inTransaction, throttle, kek,
      approvals, agents, revocation, approvalDefaultDays: config.approvals.defaultDays, blocks, pending: backchannel.pending,
    });
    const buildProvider = (keySet: KeySet) =>
      createProvider({
        issuer,
        adapter,
        signingKeys: keySet.signing,
        cookieKeys: keySet.cookie,
        trustProxy: config.trustProxy,
        secrets,
        gather,
        // The pseudonymous account of a CIBA login_hint naming nobody exists for the backchannel request alone.
        findAccount: async (ctx, id) =>
          (await users.findAccount(id)) ?? (ctx.oidc?.route === 'backchannel_authentication' && isUnknownHintId(id) ? { accountId: id, claims: () => ({ sub: id }) } : undefined),
        interactions: pages.interactions,
        recordJwt: recorder.recordJwt,
        ciba: backchannel,
        grants: [
          { grantType: TOKEN_EXCHANGE, handler: tokenExchange, parameters: TOKEN_EXCHANGE_PARAMETERS, repeatable: TOKEN_EXCHANGE_REPEATABLE },
          { grantType: JWT_BEARER_GRANT, handler: jwtBearer, parameters: JWT_BEARER_PARAMETERS, repeatable: JWT_BEARER_REPEATABLE },
        ],
        workloadCredentials: workload,
        isRemoteResource: remoteResourceCheck(resources),
        // draft-ietf-oauth-identity-assertion-authz-grant: this server redeems ID-JAGs (jwt-bearer) and issues them.
        metadata: {
          authorization_grant_profiles_supported: [ID_JAG_PROFILE],
          identity_chaining_requested_token_types_supported: [TOKEN_TYPE.idJag],
        },
        dynamicClients: {
          fetch: clientIdMetadata.fetch as never,
          features: { ...clientIdMetadata.features, ...registrationFeature(config.dynamicClients) },
        },
        auditRefusal: refusalAuditor({ audit, agents, log }),
        log,
        ttl: {
          accessToken: config.accessTokenTtl,
          refreshToken: config.refreshTokenTtl,
          session: config.sessionTtl,
          grant: config.refreshTokenTtl,
        },
      });
    const provider = new ProviderHost(buildProvider(keys), prefix);
    const cibaRequests = createCibaRequestStore(db.prisma);
    const scraped = serverMetrics({
      pendingCibaRequests: () => cibaRequests.countPending(),
      pool: () => ({ total: db.pool.totalCount, idle: db.pool.idleCount, waiting: db.pool.waitingCount, max: config.dbPoolSize }),
      currentKeys: async () =>
        (await listKeys(db.prisma)).filter((key) => key.state === 'current').map((key) => ({ kind: key.kind, since: key.activatedAt ?? key.createdAt })),
    });
    if (config.metrics.port !== undefined) {
      const metricsServer = await startMetricsServer(scraped, { port: config.metrics.port, host: config.metrics.host, log });
      cleanup.unshift(() => metricsServer.close());
    }
    const outages = outageLog(log);
    const app = createApp({
      provider,
      issuer: issuerUrl,
      log,
      edge: {
        outages,
        renderPage: pages.renderError,
        auditRefusal: (ctx, details) =>
          audit.record({
            action: 'request.refused',
            outcome: 'failure',
            actor: { kind: details.surface === 'admin' ? 'admin' : details.surface === 'pages' ? 'human' : 'app' },
            ...requestOrigin(ctx),
            details: { ...details, method: ctx.method, path: recordablePath(ctx.path) },
          }).catch((failure: unknown) => log.warn({ err: failure }, 'could not audit a refused request')),
      },
      ping: () => db.ping(),
      trustProxy: config.trustProxy,
      routes: [
        requestObservation(prefix),
        metricsRoute(scraped, config.metrics.token),
        ...pages.routes,
        protectedResourceMetadataRoute(prefix, issuer, resources),
        securityEventPollRoute({
          prefix,
          audit,
          clients,
          secrets,
          feed: createSecurityEventFeed({ prisma: db.prisma, issuer, signingKey: () => keyRing.current.signing[0]! }),
        }),
        createAdminApi({
          prefix, prisma: db.prisma, secrets, stores: { users, resources, agents, approvals, revocation, clients, dynamicClients }, limits, provider: () => provider.current,
          federation: { allowLoopbackJwksUri: config.dynamicClients.allowLoopbackFetch },
        }),
      ],
      beforeProvider: [
        workload.middleware,
        canonicalResourceParameters([`${prefix}/auth`, `${prefix}/request`, `${prefix}/token`, `${prefix}/backchannel`]),
        registrationGuard({
          path: `${prefix}/reg`,
          store: dynamicClients,
          config: config.dynamicClients,
          audit: (event) => audit.record(event),
        }),
        jwtTokenHandles({
          issuer,
          paths: [`${prefix}/token/introspection`, `${prefix}/token/revocation`],
          publicJwks: () => keyRing.current.publicJwks,
        }),
      ],
    });
    handle = app.callback();
    // oidc-provider mounted in our app signs its cookies through the app's ctx.cookies (panva/node-oidc-provider#341):
    // the app's keys are the provider's cookie keys, and follow rotation with it.
    app.keys = keys.cookie;
    const applyKeys = (next: KeySet) => {
      keyRing.current = next;
      provider.replace(buildProvider(next));
      app.keys = next.cookie;
    };
    // Rotations by any process (`agentauth keys rotate`) reach this one by LISTEN/NOTIFY, else by the periodic poll.
    const keyWatcher = startKeyWatcher({
      databaseUrl,
      prisma: db.prisma,
      kek,
      version: keys.version,
      apply: applyKeys,
      log,
      pollIntervalMs: config.keyPollIntervalSeconds * 1000,
    });
    cleanup.unshift(() => keyWatcher.close());

    const sweeper = setInterval(() => {
      Promise.all([sweepExpiredPayloads(db.prisma), throttle.sweep(), dynamicClients.sweepUnused()])
        .then(([payloads]) => payloads > 0 && log.debug({ count: payloads }, 'swept expired oidc payloads'))
        .catch((error: unknown) => log.warn({ err: error }, 'sweeping expired rows failed'));
    }, config.sweepIntervalSeconds * 1000);
    sweeper.unref();
    cleanup.unshift(async () => clearInterval(sweeper));

    // Every server runs the audit chainer; an advisory lock lets one chain at a time (src/audit/audit-chain.ts).
    const chainer = startAuditChainer({
      prisma: db.prisma,
      pool: db.pool,
      keys: deriveAuditKeys(kek),
      log,
      intervalMs: config.audit.chainIntervalSeconds * 1000,
      graceMs: config.audit.chainGraceSeconds * 1000,
      retention: { auditDays: config.audit.retentionDays, tokenDays: config.audit.tokenRecordRetentionDays },
      retentionIntervalMs: config.sweepIntervalSeconds * 1000,
    });
    cleanup.unshift(() => chainer.close());

    log.info({ issuer, port }, 'agentauth listening');
    return {
      url: `http://127.0.0.1:${port}`,
      issuer,
      db,
      stores: { clients, resources, users, agents, approvals, revocation },
      provider,
      close: () => runAll(cleanup, log),
    };
  } catch (error) {
    await runAll(cleanup, log);
    throw error;
  }
}

async function runAll(steps: Array<() => Promise<void>>, log: Logger): Promise<void> {
  for (const step of steps.splice(0)) {
    await step().catch((error: unknown) => log.warn({ err: error }, 'shutdown step failed'));
  }
}

/**
 * Graceful close: no new connections, idle keep-alive sockets closed, busy ones get `graceMs` to finish; and every
 * request still being handled (its client may have left) finishes within the same grace before anything it uses
 * (the database pool) is released.
 */
async function closeHttpServer(server: http.Server, inFlight: Set<Promise<unknown>>, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await Promise.race([closed, deadline]);
  server.closeAllConnections();
  await Promise.race([Promise.allSettled([...inFlight]), deadline]);
}
