// Prometheus metrics (prom-client). Counters of what happened are process-wide, like prom-client's default
// registry, so the places that issue, refuse and revoke tokens count with one line and no new wiring; the gauges
// that describe one server's state (pending CIBA requests, its pool, its keys) are read when scraped, from a
// registry each server builds over its own stores. Labels are bounded: grant types, principal kinds, registered
// resources, rule ids; never a client, user or token id.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const processRegistry = new Registry();
let collectingProcessMetrics = false;

export const metrics = {
  tokensIssued: new Counter({
    name: 'agentauth_tokens_issued_total',
    help: 'Tokens issued (each has a stored record), by grant type, kind of the subject principal, resource and token kind.',
    labelNames: ['grant_type', 'principal_kind', 'resource', 'token_kind'] as const,
    registers: [processRegistry],
  }),
  refusals: new Counter({
    name: 'agentauth_refusals_total',
    help: 'Requests refused and audited, by endpoint and the rule (or OAuth error) that refused them.',
    labelNames: ['endpoint', 'rule'] as const,
    registers: [processRegistry],
  }),
  tokensRevoked: new Counter({
    name: 'agentauth_tokens_revoked_total',
    help: 'Tokens revoked (derived tokens included), by who started the revocation.',
    labelNames: ['initiator'] as const,
    registers: [processRegistry],
  }),
  tokenRequestDuration: new Histogram({
    name: 'agentauth_token_request_duration_seconds',
    help: 'Time the token endpoint took to answer, by grant type and HTTP status.',
    labelNames: ['grant_type', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [processRegistry],
  }),
};

/** What a server reads when scraped. */
export type ServerGauges = {
  pendingCibaRequests(): Promise<number>;
  pool(): { total: number; idle: number; waiting: number; max: number };
  /** Activation (or creation) time of the key in use, per kind. */
  currentKeys(): Promise<Array<{ kind: 'signing' | 'cookie'; since: Date }>>;
};

export type ServerMetrics = { contentType: string; render(): Promise<string> };

export function serverMetrics(gauges: ServerGauges): ServerMetrics {
  // Process metrics (CPU, memory, event-loop lag) only in processes that serve, not in every CLI run.
  if (!collectingProcessMetrics) {
    collectDefaultMetrics({ register: processRegistry, prefix: 'agentauth_' });
    collectingProcessMetrics = true;
  }
  const registry = new Registry();
  new Gauge({
    name: 'agentauth_ciba_pending_requests',
    help: 'Backchannel (CIBA) requests waiting for a human, not yet expired.',
    registers: [registry],
    async collect() {
      this.set(await gauges.pendingCibaRequests());
    },
  });
  new Gauge({
    name: 'agentauth_db_pool_connections',
    help: 'Database pool connections of this process: total open, idle, and requests waiting for one; max is the pool size.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const pool = gauges.pool();
      for (const state of ['total', 'idle', 'waiting', 'max'] as const) this.set({ state }, pool[state]);
    },
  });
  new Gauge({
    name: 'agentauth_key_age_seconds',
    help: 'Seconds since the key in use started signing (signing) or sealing cookies (cookie): how long since the last rotation.',
    labelNames: ['kind'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const key of await gauges.currentKeys()) this.set({ kind: key.kind }, Math.floor((Date.now() - key.since.getTime()) / 1000));
    },
  });
  return {
    contentType: registry.contentType,
    async render() {
      return Registry.merge([processRegistry, registry]).metrics();
    },
  };
}
