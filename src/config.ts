// The server's configuration, parsed once from the environment into a typed object. Nothing else reads process.env.
import path from 'node:path';
import { z } from 'zod';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** What `npm start` tells V8 unless AGENTAUTH_V8_FLAGS says otherwise: why, and what it was measured to do, in src/runtime-tuning.ts. */
export const DEFAULT_V8_FLAGS = ['--liftoff-only', '--heap-growing-percent=50'];

const envSchema = z.object({
  DATABASE_URL: z.string().url().optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  ISSUER: z.string().url().optional(),
  AGENTAUTH_DATA_DIR: z.string().min(1).default('.agentauth'),
  AGENTAUTH_BOOTSTRAP_ADMIN_KEY: z.string().min(32).optional(),
  AGENTAUTH_KEK: z.string().optional(),
  AGENTAUTH_TRUST_PROXY: z.enum(['true', 'false']).default('false'),
  AGENTAUTH_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  AGENTAUTH_SWEEP_INTERVAL_S: z.coerce.number().int().min(1).default(300),
  AGENTAUTH_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  // V8 flags `npm start` sets before serving (src/runtime-tuning.ts), space-separated; `none` sets none.
  AGENTAUTH_V8_FLAGS: z
    .string()
    .default(DEFAULT_V8_FLAGS.join(' '))
    .transform((value) => (value.trim() === 'none' ? [] : value.split(/\s+/).filter(Boolean)))
    .pipe(z.array(z.string().regex(/^--[a-z0-9-]+(=[A-Za-z0-9._-]+)?$/, 'each flag looks like --name or --name=value'))),
  AGENTAUTH_ACCESS_TOKEN_TTL: z.coerce.number().int().min(30).max(3600).default(300),
  AGENTAUTH_REFRESH_TOKEN_TTL: z.coerce.number().int().min(60).max(90 * 86400).default(14 * 86400),
  AGENTAUTH_SESSION_TTL: z.coerce.number().int().min(60).max(30 * 86400).default(86400),
  AGENTAUTH_AGENT_DEFAULT_TOKEN_TTL: z.coerce.number().int().min(30).max(3600).default(300),
  AGENTAUTH_AGENT_MAX_TOKEN_TTL: z.coerce.number().int().min(30).max(3600).default(3600),
  AGENTAUTH_APPROVAL_DEFAULT_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  AGENTAUTH_APPROVAL_MAX_DAYS: z.coerce.number().int().min(1).max(365).default(90),
  // CIBA (backchannel approval requests): abuse limits on pending requests, and the minimum seconds between polls.
  AGENTAUTH_CIBA_MAX_PENDING_PER_AGENT: z.coerce.number().int().min(1).max(10_000).default(50),
  AGENTAUTH_CIBA_MAX_PENDING_PER_HUMAN: z.coerce.number().int().min(1).max(100).default(3),
  AGENTAUTH_CIBA_POLL_INTERVAL_S: z.coerce.number().int().min(1).max(60).default(5),
  // Seconds a token carrying a requires_approval scope (step-up, one fresh approval per token) lives.
  AGENTAUTH_STEP_UP_TOKEN_TTL: z.coerce.number().int().min(5).max(3600).default(60),
  // Optional: where to POST an HMAC-signed JSON event when an agent waits for a human's approval.
  AGENTAUTH_APPROVAL_WEBHOOK_URL: z.string().url().optional(),
  AGENTAUTH_APPROVAL_WEBHOOK_SECRET: z.string().min(32).optional(),
  AGENTAUTH_KEY_POLL_INTERVAL_S: z.coerce.number().int().min(1).max(300).default(60),
  AGENTAUTH_DELEGATION_MAX_DEPTH: z.coerce.number().int().min(1).max(10).default(3),
  AGENTAUTH_AUDIT_CHAIN_INTERVAL_S: z.coerce.number().int().min(1).max(3600).default(5),
  AGENTAUTH_AUDIT_CHAIN_GRACE_S: z.coerce.number().int().min(1).max(3600).default(120),
  AGENTAUTH_AUDIT_RETENTION_DAYS: z.coerce.number().int().min(0).default(0),
  AGENTAUTH_TOKEN_RECORD_RETENTION_DAYS: z.coerce.number().int().min(0).default(30),
  // Clients that arrive by themselves (src/oauth/client-id-metadata.ts, src/oauth/dynamic-registration.ts).
  AGENTAUTH_CIMD: z.enum(['on', 'off']).default('on'),
  AGENTAUTH_CIMD_ALLOW_LOOPBACK: z.enum(['true', 'false']).default('false'),
  AGENTAUTH_DYNAMIC_CLIENT_TRUST: z.enum(['any', 'allowlist']).default('any'),
  AGENTAUTH_DCR: z.enum(['off', 'open', 'token']).default('off'),
  AGENTAUTH_DCR_INITIAL_ACCESS_TOKEN: z.string().min(32).optional(),
  AGENTAUTH_DCR_MAX_PER_HOUR: z.coerce.number().int().min(1).max(10_000).default(10),
  AGENTAUTH_DCR_UNUSED_TTL_S: z.coerce.number().int().min(60).max(90 * 86400).default(86400),
  LOG_LEVEL: z.enum(logLevels).default('info'),
  // Prometheus metrics: on the public port only with this bearer token; or on a port of their own (loopback unless
  // AGENTAUTH_METRICS_HOST says otherwise).
  AGENTAUTH_METRICS_TOKEN: z.string().min(16).optional(),
  AGENTAUTH_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  AGENTAUTH_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
});

export type Config = {
  /** Connection string of an external PostgreSQL server; undefined means: run the embedded server. */
  databaseUrl: string | undefined;
  port: number;
  host: string;
  /** The issuer identifier; explicit, or derived from the port (resolved after listen when PORT=0). */
  issuer: string | undefined;
  dataDir: string;
  bootstrapAdminKey: string | undefined;
  kek: string | undefined;
  trustProxy: boolean;
  shutdownGraceMs: number;
  sweepIntervalSeconds: number;
  dbPoolSize: number;
  /** V8 flags applied by `npm start` before serving. */
  v8Flags: string[];
  /** Seconds. Access tokens without a resource (userinfo only); resource servers set their own, capped at 3600. */
  accessTokenTtl: number;
  refreshTokenTtl: number;
  /** Seconds a human's login session lasts. */
  sessionTtl: number;
  agents: {
    /** Seconds: an agent's max_token_ttl when the admin gives none. */
    defaultTokenTtl: number;
    /** Seconds: the hard cap on any agent's max_token_ttl. */
    maxTokenTtl: number;
    /** How many agents a delegation chain may hold. */
    maxDelegationDepth: number;
  };
  approvals: { defaultDays: number; maxDays: number };
  /** CIBA: pending requests allowed per agent and per agent+human; minimum seconds between polls; step-up token lifetime. */
  ciba: { maxPendingPerAgent: number; maxPendingPerAgentHuman: number; pollIntervalSeconds: number; stepUpTokenTtl: number };
  /** Webhook notified when an agent waits for a human's approval (besides the log line). */
  approvalWebhook: { url: string; secret: string } | undefined;
  /** Seconds between checks for rotated keys (a NOTIFY usually brings them sooner). */
  keyPollIntervalSeconds: number;
  audit: {
    /** Seconds between passes of the background step that chains audit events and writes checkpoints. */
    chainIntervalSeconds: number;
    /** Seconds a hole in the audit seq may be an uncommitted transaction before it is recorded as skipped. */
    chainGraceSeconds: number;
    /** Days audit events are kept (whole checkpointed prefixes are deleted); 0 keeps them forever. */
    retentionDays: number;
    /** Days records of expired tokens (and delivered security events) are kept after expiry; 0 keeps them forever. */
    tokenRecordRetentionDays: number;
  };
  /** Clients that arrive by themselves: Client ID Metadata Documents and Dynamic Client Registration. */
  dynamicClients: {
    /** Accept https client_ids whose metadata document is fetched (draft-ietf-oauth-client-id-metadata-document). */
    cimd: boolean;
    /** Development and tests only: documents may be fetched from loopback addresses (https still required). */
    allowLoopbackFetch: boolean;
    /** any: every domain not denied; allowlist: only domains an admin allowed (admin API /client-domains). */
    trust: 'any' | 'allowlist';
    /** RFC 7591 registration: off, open (rate-limited per address, unused registrations expire), token (initial access token). */
    dcr: 'off' | 'open' | 'token';
    dcrInitialAccessToken: string | undefined;
    /** Open registration: registrations one address may make per hour. */
    dcrMaxPerHour: number;
    /** Seconds after which a DCR registration never used is removed. */
    dcrUnusedTtlSeconds: number;
  };
  logLevel: (typeof logLevels)[number];
  /** GET /metrics: `token` opens it on the public port (bearer); `port` serves it on its own listener at `host`. */
  metrics: { token: string | undefined; port: number | undefined; host: string };
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const parsed = envSchema.safeParse(emptyAsUnset(env));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  if (e.DATABASE_URL !== undefined && e.AGENTAUTH_KEK === undefined) {
    throw new ConfigError(
      'AGENTAUTH_KEK is required when DATABASE_URL is set (it encrypts signing keys at rest). Make one with ' +
        '`npx agentauth kek generate` and keep it safe: the same KEK must be given to every server and CLI run on this database',
    );
  }
  if (e.AGENTAUTH_APPROVAL_WEBHOOK_URL !== undefined && e.AGENTAUTH_APPROVAL_WEBHOOK_SECRET === undefined) {
    throw new ConfigError('AGENTAUTH_APPROVAL_WEBHOOK_SECRET (at least 32 characters) is required with AGENTAUTH_APPROVAL_WEBHOOK_URL: it signs the payload');
  }
  if (e.AGENTAUTH_DCR === 'token' && e.AGENTAUTH_DCR_INITIAL_ACCESS_TOKEN === undefined) {
    throw new ConfigError('AGENTAUTH_DCR=token needs AGENTAUTH_DCR_INITIAL_ACCESS_TOKEN (at least 32 characters): the initial access token registrations must present');
  }
  return {
    databaseUrl: e.DATABASE_URL,
    port: e.PORT,
    host: e.HOST,
    issuer: e.ISSUER?.replace(/\/$/, ''),
    dataDir: path.resolve(cwd, e.AGENTAUTH_DATA_DIR),
    bootstrapAdminKey: e.AGENTAUTH_BOOTSTRAP_ADMIN_KEY,
    kek: e.AGENTAUTH_KEK,
    trustProxy: e.AGENTAUTH_TRUST_PROXY === 'true',
    shutdownGraceMs: e.AGENTAUTH_SHUTDOWN_GRACE_MS,
    sweepIntervalSeconds: e.AGENTAUTH_SWEEP_INTERVAL_S,
    dbPoolSize: e.AGENTAUTH_DB_POOL_SIZE,
    v8Flags: e.AGENTAUTH_V8_FLAGS,
    accessTokenTtl: e.AGENTAUTH_ACCESS_TOKEN_TTL,
    refreshTokenTtl: e.AGENTAUTH_REFRESH_TOKEN_TTL,
    sessionTtl: e.AGENTAUTH_SESSION_TTL,
    agents: {
      defaultTokenTtl: Math.min(e.AGENTAUTH_AGENT_DEFAULT_TOKEN_TTL, e.AGENTAUTH_AGENT_MAX_TOKEN_TTL),
      maxTokenTtl: e.AGENTAUTH_AGENT_MAX_TOKEN_TTL,
      maxDelegationDepth: e.AGENTAUTH_DELEGATION_MAX_DEPTH,
    },
    keyPollIntervalSeconds: e.AGENTAUTH_KEY_POLL_INTERVAL_S,
    audit: {
      chainIntervalSeconds: e.AGENTAUTH_AUDIT_CHAIN_INTERVAL_S,
      chainGraceSeconds: e.AGENTAUTH_AUDIT_CHAIN_GRACE_S,
      retentionDays: e.AGENTAUTH_AUDIT_RETENTION_DAYS,
      tokenRecordRetentionDays: e.AGENTAUTH_TOKEN_RECORD_RETENTION_DAYS,
    },
    ciba: {
      maxPendingPerAgent: e.AGENTAUTH_CIBA_MAX_PENDING_PER_AGENT,
      maxPendingPerAgentHuman: e.AGENTAUTH_CIBA_MAX_PENDING_PER_HUMAN,
      pollIntervalSeconds: e.AGENTAUTH_CIBA_POLL_INTERVAL_S,
      stepUpTokenTtl: e.AGENTAUTH_STEP_UP_TOKEN_TTL,
    },
    approvalWebhook: e.AGENTAUTH_APPROVAL_WEBHOOK_URL
      ? { url: e.AGENTAUTH_APPROVAL_WEBHOOK_URL, secret: e.AGENTAUTH_APPROVAL_WEBHOOK_SECRET ?? '' }
      : undefined,
    approvals: { defaultDays: Math.min(e.AGENTAUTH_APPROVAL_DEFAULT_DAYS, e.AGENTAUTH_APPROVAL_MAX_DAYS), maxDays: e.AGENTAUTH_APPROVAL_MAX_DAYS },
    dynamicClients: {
      cimd: e.AGENTAUTH_CIMD === 'on',
      allowLoopbackFetch: e.AGENTAUTH_CIMD_ALLOW_LOOPBACK === 'true',
      trust: e.AGENTAUTH_DYNAMIC_CLIENT_TRUST,
      dcr: e.AGENTAUTH_DCR,
      dcrInitialAccessToken: e.AGENTAUTH_DCR_INITIAL_ACCESS_TOKEN,
      dcrMaxPerHour: e.AGENTAUTH_DCR_MAX_PER_HOUR,
      dcrUnusedTtlSeconds: e.AGENTAUTH_DCR_UNUSED_TTL_S,
    },
    logLevel: e.LOG_LEVEL,
    metrics: { token: e.AGENTAUTH_METRICS_TOKEN, port: e.AGENTAUTH_METRICS_PORT, host: e.AGENTAUTH_METRICS_HOST },
  };
}

/** `FOO=` in a shell or .env file means "not set", not "set to the empty string". */
function emptyAsUnset(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''));
}
