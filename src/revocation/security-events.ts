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
import type { Prisma } from '../../generated/prisma/client.js';
import type { ActorKind } from '../audit/audit-log.js';
import { SUB_PROFILE, type Actor, type PrincipalKind } from '../tokens/principals.js';

export const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';

/** The columns of a revoked token record the events are made from. */
export type RevokedToken = {
  jti: string;
  format: string;
  kind: string;
  subject: string;
  subject_kind: PrincipalKind;
  client_id: string;
  actor_chain: unknown;
  resource: string | null;
  audience: string | null;
  expires_at: Date;
};

/** CAEP's initiating_entity for who revoked. */
const INITIATOR: Record<ActorKind, string> = { admin: 'admin', human: 'user', agent: 'policy', app: 'policy', system: 'system' };

/** The security_events rows for revoked tokens: only JWT access tokens, still unexpired, for a registered resource. */
export async function securityEventRows(
  tx: Pick<Prisma.TransactionClient, 'resourceServer'>,
  tokens: RevokedToken[],
  context: { reason: string; initiator: ActorKind },
): Promise<Prisma.SecurityEventCreateManyInput[]> {
  const now = Date.now();
  const relevant = tokens.filter((t) => t.kind === 'access_token' && t.format === 'jwt' && new Date(t.expires_at).getTime() > now && (t.resource ?? t.audience));
  if (relevant.length === 0) return [];
  const identifiers = [...new Set(relevant.map((t) => (t.resource ?? t.audience)!))];
  const registered = new Set(
    (await tx.resourceServer.findMany({ where: { identifier: { in: identifiers } }, select: { identifier: true } })).map((r) => r.identifier),
  );
  const timestamp = Math.floor(now / 1000);
  return relevant
    .filter((t) => registered.has((t.resource ?? t.audience)!))
    .map((t) => {
      const chain = (Array.isArray(t.actor_chain) ? t.actor_chain : []) as Actor[];
      return {
        audience: (t.resource ?? t.audience)!,
        eventType: SESSION_REVOKED,
        event: {
          sub_id: { format: 'jwt_id', jti: t.jti },
          event: {
            event_timestamp: timestamp,
            initiating_entity: INITIATOR[context.initiator],
            reason_admin: { en: context.reason },
            sub: t.subject,
            sub_profile: SUB_PROFILE[t.subject_kind],
            client_id: t.client_id,
            actor_chain: chain.map((a) => ({ sub: a.sub, sub_profile: SUB_PROFILE[a.kind] ?? a.kind })),
            token_exp: Math.floor(new Date(t.expires_at).getTime() / 1000),
          },
        } as Prisma.InputJsonValue,
      };
    });
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
