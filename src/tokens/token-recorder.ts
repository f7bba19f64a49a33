// Every access and refresh token issued, by any grant, gets a record (never the token itself) and an audit event,
// committed in the same transaction and before the response leaves: oidc-provider does not await its events, so
// recording hangs off the two awaited seams it has, the JWT customizer (for JWT access tokens) and the adapter's
// upsert (for opaque access tokens and refresh tokens).
import Provider, { type AdapterPayload } from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import { upsertPayload } from '../oauth/adapter.js';
import type { IssuedTokenModel } from '../oauth/provider.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { auditData, type ActorKind } from '../audit/audit-log.js';
import type { PrincipalKind } from './principals.js';
import { tokenContextFor } from './token-context.js';

const TOKEN_KINDS: Record<string, 'access_token' | 'refresh_token' | undefined> = {
  AccessToken: 'access_token',
  ClientCredentials: 'access_token',
  RefreshToken: 'refresh_token',
};

/** The part of oidc-provider's token payload a record is made of. */
export type TokenPayload = {
  jti?: string;
  kind?: string;
  accountId?: string;
  clientId?: string;
  scope?: string;
  aud?: string | string[];
  gty?: string;
  grantId?: string;
  jkt?: string;
  iat?: number;
  exp?: number;
  extra?: Record<string, unknown>;
};

export type RecordContext = {
  /** The client's principal kind (app or agent). */
  clientKind: PrincipalKind;
  /** The request's state, where grants leave the token context (src/tokens/token-context.ts). */
  state?: unknown;
  /** The grant_type of the token request (what was called to get this token). */
  grantType?: string | undefined;
  parentJti?: string | undefined;
  requestId?: string | undefined;
  ip?: string | undefined;
};

export function isRecordedModel(model: string): boolean {
  return TOKEN_KINDS[model] !== undefined;
}

/** The Prisma writes that record one issued token: its record and its audit event. */
export function recordWrites(
  prisma: PrismaClient,
  model: string,
  jti: string,
  format: 'jwt' | 'opaque',
  payload: TokenPayload,
  context: RecordContext,
): Prisma.PrismaPromise<unknown>[] {
  const kind = TOKEN_KINDS[model];
  if (!kind) return [];
  const clientId = payload.clientId ?? '';
  const subjectKind: PrincipalKind = payload.accountId ? 'human' : context.clientKind;
  const tokenContext = tokenContextFor(context.state, payload, context.clientKind);
  const actorChain = tokenContext.actorChain;
  const parentJti = tokenContext.parentJti ?? context.parentJti;
  const scopes = payload.scope ? payload.scope.split(' ') : [];
  const audience = Array.isArray(payload.aud) ? payload.aud[0] : payload.aud;
  const now = Math.floor(Date.now() / 1000);
  const approvalId = tokenContext.approvalId;
  const actorKind: ActorKind = context.clientKind;

  return [
    prisma.issuedToken.createMany({
      data: [
        {
          jti,
          kind,
          format,
          parentJti: parentJti ?? null,
          subject: payload.accountId ?? clientId,
          subjectKind,
          actorChain: actorChain as Prisma.InputJsonValue,
          clientId,
          scopes,
          audience: audience ?? null,
          resource: tokenContext.resource ?? audience ?? null,
          grantType: context.grantType ?? payload.gty ?? 'unknown',
          grantId: payload.grantId ?? null,
          approvalId: approvalId ?? null,
          dpopJkt: payload.jkt ?? null,
          issuedAt: new Date((payload.iat ?? now) * 1000),
          expiresAt: new Date((payload.exp ?? now) * 1000),
        },
      ],
      skipDuplicates: true,
    }),
    prisma.auditEvent.createMany({
      data: [
        auditData({
          action: 'token.issued',
          outcome: 'success',
          actor: { kind: actorKind, id: clientId },
          userId: payload.accountId,
          agentId: context.clientKind === 'agent' ? clientId : actorChain.find((a) => a.kind === 'agent')?.sub,
          actorChain,
          clientId,
          requestId: context.requestId,
          ip: context.ip,
          details: {
            jti,
            token_kind: kind,
            format,
            grant_type: context.grantType ?? payload.gty,
            subject_kind: subjectKind,
            scopes,
            audience,
            parent_jti: parentJti,
            approval_id: approvalId,
          },
        }),
      ],
    }),
  ];
}

/**
 * The two recording seams. JWT access tokens are also stored as payloads (under their jti) so that introspection,
 * revocation and grant revocation treat them exactly like opaque tokens.
 */
export function createTokenRecorder(prisma: PrismaClient, hashId: (id: string) => string) {
  const context = (): RecordContext => {
    const request = currentRequest();
    // Refresh tokens are opaque: records and payload rows know them by their keyed hash.
    return { ...request, parentJti: request.parentJti ? hashId(request.parentJti) : undefined };
  };
  return {
    async recordJwt(_ctx: unknown, token: IssuedTokenModel, jwt: Record<string, unknown>): Promise<void> {
      const payload = storablePayload(token, jwt);
      const expiresIn = Math.max(1, (payload.exp ?? 0) - Math.floor(Date.now() / 1000));
      await prisma.$transaction([
        upsertPayload(prisma, token.kind, hashId(token.jti), payload as AdapterPayload, expiresIn),
        ...recordWrites(prisma, token.kind, token.jti, 'jwt', payload, context()),
      ]);
    },
    alsoWrite(model: string, storedId: string, payload: AdapterPayload): Prisma.PrismaPromise<unknown>[] {
      return isRecordedModel(model) ? recordWrites(prisma, model, storedId, 'opaque', payload as TokenPayload, context()) : [];
    },
    /** A token's payload leaving storage before its expiry is a revocation: its record says so. */
    alsoRemove: {
      byId(model: string, id: string, storedId: string): Prisma.PrismaPromise<unknown>[] {
        if (!isRecordedModel(model)) return [];
        // JWTs are recorded under their jti (the id here), opaque tokens under the stored hash.
        return [markRevoked(prisma, { jti: { in: [id, storedId] } }, 'revoked')];
      },
      byGrant(model: string, grantId: string): Prisma.PrismaPromise<unknown>[] {
        return isRecordedModel(model) ? [markRevoked(prisma, { grantId, kind: TOKEN_KINDS[model] }, 'grant revoked')] : [];
      },
    },
  };
}

function markRevoked(prisma: PrismaClient, where: Prisma.IssuedTokenWhereInput, reason: string) {
  return prisma.issuedToken.updateMany({ where: { ...where, revokedAt: null }, data: { revokedAt: new Date(), revocationReason: reason } });
}

/** What oidc-provider would have stored for this token had it been opaque: its model fields plus iat and exp. */
function storablePayload(token: IssuedTokenModel, jwt: Record<string, unknown>): TokenPayload {
  const payload: Record<string, unknown> = {};
  for (const field of token.constructor.IN_PAYLOAD) {
    if (token[field] !== undefined) payload[field] = token[field];
  }
  payload.iat = jwt.iat;
  payload.exp = jwt.exp;
  return payload as TokenPayload;
}

/** The request a token is being issued in (oidc-provider keeps it in AsyncLocalStorage). */
function currentRequest(): RecordContext {
  const ctx = Provider.ctx;
  const client = ctx?.oidc?.client as { principal_kind?: PrincipalKind } | undefined;
  const entities = (ctx?.oidc?.entities ?? {}) as { RefreshToken?: { jti: string }; RotatedRefreshToken?: { jti: string } };
  return {
    requestId: (ctx?.state as { requestId?: string } | undefined)?.requestId,
    state: ctx?.state,
    ip: ctx?.ip,
    clientKind: client?.principal_kind ?? 'app',
    grantType: typeof ctx?.oidc?.params?.grant_type === 'string' ? ctx.oidc.params.grant_type : undefined,
    parentJti: (entities.RotatedRefreshToken ?? entities.RefreshToken)?.jti,
  };
}
