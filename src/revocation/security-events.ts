// How resource servers learn of revocations without introspecting every call: a feed of Security Event Tokens
// (RFC 8417, `typ: secevent+jwt`) they poll (RFC 8936). The revocation service writes one event per revoked access
// token that a registered resource server may be holding (a JWT, not yet expired), in the revocation's own
// transaction; a resource server polls with its client credentials, gets the events addressed to its identifier,
// signed with the server's current signing key (verifiable with the published JWKS), and acknowledges them.
//
// Each SET carries a CAEP `session-revoked` event about one token: `sub_id` names the token (Shared Signals'
// `jwt_id` subject format: iss + jti), and the event says whose token it was (sub and sub_profile, so a human is
// told from an agent), which client held it, the actor chain, and why.
import { importJWK, SignJWT, type JWK } from 'jose';
import type { PrismaClient } from '../db/client.js';
import { Prisma } from '../../generated/prisma/client.js';
import type { ActorKind } from '../audit/audit-log.js';
import { SUB_PROFILE } from '../tokens/principals.js';

export const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';

/** CAEP's initiating_entity for who revoked. */
const INITIATOR: Record<ActorKind, string> = { admin: 'admin', human: 'user', agent: 'policy', app: 'policy', system: 'system' };

/**
 * The statement (a data-modifying CTE, to follow the revoking UPDATE in the same statement) that writes the
 * security events for the revoked tokens in the CTE named `revoked`: only JWT access tokens, still unexpired, for a
 * registered resource server, one per token. Built in SQL so a cascade over tens of thousands of tokens ships no
 * rows to the process and back (an agent's kill switch must answer within seconds).
 */
export function securityEventInsert(context: { reason: string; initiator: ActorKind }, now = Date.now()): Prisma.Sql {
  const profiles = JSON.stringify(SUB_PROFILE);
  return Prisma.sql`
    INSERT INTO security_events (jti, audience, event_type, event)
    SELECT gen_random_uuid(), r.identifier, ${SESSION_REVOKED},
           jsonb_build_object(
             'sub_id', jsonb_build_object('format', 'jwt_id', 'jti', t.jti),
             'event', jsonb_build_object(
               'event_timestamp', ${Math.floor(now / 1000)}::bigint,
               'initiating_entity', ${INITIATOR[context.initiator]}::text,
               'reason_admin', jsonb_build_object('en', ${context.reason}::text),
               'sub', t.subject,
               'sub_profile', ${profiles}::jsonb ->> t.subject_kind::text,
               'client_id', t.client_id,
               'actor_chain', coalesce((
                 SELECT jsonb_agg(jsonb_build_object('sub', a->>'sub', 'sub_profile', coalesce(${profiles}::jsonb ->> (a->>'kind'), a->>'kind')) ORDER BY o)
                 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.actor_chain) = 'array' THEN t.actor_chain ELSE '[]'::jsonb END)
                   WITH ORDINALITY AS chain(a, o)
               ), '[]'::jsonb),
               'token_exp', floor(extract(epoch FROM t.expires_at))::bigint))
    FROM revoked t JOIN resource_servers r ON r.identifier = coalesce(t.resource, t.audience)
    WHERE t.kind = 'access_token' AND t.format = 'jwt' AND t.expires_at > to_timestamp(${now / 1000}::double precision)`;
}

export type PollRequest = {
  /** How many SETs to return at most (0: only acknowledge). */
  maxEvents: number;
  /** Answer at once even if nothing is waiting (else wait up to the long-poll limit for an event). */
  returnImmediately: boolean;
  /** SET jtis the receiver has processed: not delivered again. */
  ack: string[];
  /** SETs the receiver could not process (RFC 8936 §2.4): acknowledged as well, and logged. */
  setErrs: Record<string, { err: string; description: string }>;
};

export type PollResponse = { sets: Record<string, string>; moreAvailable: boolean };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createSecurityEventFeed(deps: {
  prisma: PrismaClient;
  issuer: string;
  /** The private JWK that signs now (the key ring's current key). */
  signingKey: () => { kid?: string | undefined; alg?: string | undefined };
  /** How long a poll without returnImmediately waits for an event. */
  longPollMs?: number;
  pollIntervalMs?: number;
}) {
  const longPollMs = deps.longPollMs ?? 10_000;
  const pollIntervalMs = deps.pollIntervalMs ?? 250;

  async function sign(row: { jti: string; audience: string; eventType: string; event: unknown; createdAt: Date }): Promise<string> {
    // key_ops (oidc-provider's marking) would only restrict what jose lets the key do; the kid and alg stay.
    const { key_ops: _ops, ...jwk } = deps.signingKey() as JWK;
    const key = await importJWK(jwk, jwk.alg ?? 'ES256');
    const stored = row.event as { sub_id: Record<string, unknown>; event: Record<string, unknown> };
    return new SignJWT({ sub_id: { ...stored.sub_id, iss: deps.issuer }, events: { [row.eventType]: stored.event } })
      .setProtectedHeader({ alg: jwk.alg ?? 'ES256', kid: jwk.kid, typ: 'secevent+jwt' })
      .setIssuer(deps.issuer)
      .setAudience(row.audience)
      .setJti(row.jti)
      .setIssuedAt(Math.floor(row.createdAt.getTime() / 1000))
      .sign(key);
  }

  async function pending(audience: string, take: number) {
    return deps.prisma.securityEvent.findMany({
      where: { audience, acknowledgedAt: null },
      orderBy: { seq: 'asc' },
      take: take + 1,
    });
  }

  return {
    async poll(audience: string, request: PollRequest, aborted: () => boolean = () => false): Promise<PollResponse> {
      const acked = [...request.ack, ...Object.keys(request.setErrs)].filter((jti) => UUID.test(jti));
      if (acked.length > 0) {
        await deps.prisma.securityEvent.updateMany({ where: { audience, jti: { in: acked }, acknowledgedAt: null }, data: { acknowledgedAt: new Date() } });
      }
      if (request.maxEvents === 0) return { sets: {}, moreAvailable: (await pending(audience, 0)).length > 0 };
      const deadline = Date.now() + (request.returnImmediately ? 0 : longPollMs);
      let rows = await pending(audience, request.maxEvents);
      while (rows.length === 0 && Date.now() < deadline && !aborted()) {
        await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
        rows = await pending(audience, request.maxEvents);
      }
      const sets: Record<string, string> = {};
      for (const row of rows.slice(0, request.maxEvents)) sets[row.jti] = await sign(row);
      return { sets, moreAvailable: rows.length > request.maxEvents };
    },
  };
}

export type SecurityEventFeed = ReturnType<typeof createSecurityEventFeed>;
