// Every access and refresh token issued, by any grant, gets a record (never the token itself) and an audit event,
// committed in one statement before the response leaves (src/tokens/issued-token-store.ts groups concurrent
// requests' rows into one commit; each request still waits for its own). oidc-provider does not await its events, so
// recording hangs off the two awaited seams it has, the JWT customizer (for JWT access tokens) and the adapter's
// upsert (for opaque access tokens and refresh tokens).
import Provider, { type AdapterPayload } from 'oidc-provider';
import { auditData, requestOrigin, type ActorKind } from '../audit/audit-log.js';
import type { PrincipalKind } from './principals.js';
import type { IssuanceRow, IssuedTokenStore } from './issued-token-store.js';
import { tokenContextFor } from './token-context.js';
import type { Revoker, RevocationService } from '../revocation/revocation-service.js';
import { metrics } from '../observability/metrics.js';

/** The token model instance oidc-provider hands to the JWT customizer. */
export type IssuedTokenModel = {
  kind: string;
  jti: string;
  constructor: { IN_PAYLOAD: string[] };
  extra?: Record<string, unknown>;
} & Record<string, unknown>;

const TOKEN_KINDS: Record<string, 'access_token' | 'refresh_token' | 'id_jag' | undefined> = {
  AccessToken: 'access_token',
  // An ID-JAG this server issued for another authorization server (src/oauth/grants/token-exchange.ts).
  IdJag: 'id_jag',
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

/**
 * The three rows an issuance writes (payload for oidc-provider, record, issuance event), written by the issued-token
 * store in one statement together with those of concurrent requests (group commit).
 */
function issuanceRow(
  model: string,
  storedId: string,
  payload: TokenPayload & AdapterPayload,
  expiresIn: number | undefined,
  jti: string,
  format: 'jwt' | 'opaque',
  context: RecordContext,
): IssuanceRow {
  const kind = TOKEN_KINDS[model]!;
  const clientId = payload.clientId ?? '';
  const subjectKind: PrincipalKind = payload.accountId ? 'human' : context.clientKind;
  const tokenContext = tokenContextFor(context.state, payload, context.clientKind);
  const actorChain = tokenContext.actorChain;
  const parentJti = tokenContext.parentJti ?? context.parentJti;
  const scopes = payload.scope ? payload.scope.split(' ') : [];
  const audience = Array.isArray(payload.aud) ? payload.aud[0] : payload.aud;
  const now = Math.floor(Date.now() / 1000);
  const grantType = context.grantType ?? payload.gty ?? 'unknown';
  const event = auditData({
    action: 'token.issued',
    outcome: 'success',
    actor: { kind: context.clientKind satisfies ActorKind, id: clientId },
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
      grant_type: grantType,
      subject_kind: subjectKind,
      scopes,
      audience,
      parent_jti: parentJti,
      approval_id: tokenContext.approvalId,
    },
  });
  const time = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString();
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  return {
    payload: {
      model,
      id: storedId,
      value: payload,
      grantId: text(payload.grantId),
      userCode: text(payload.userCode),
      uid: text(payload.uid),
      expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000).toISOString() : null,
    },
    record: {
      jti,
      kind,
      format,
      parentJti: parentJti ?? null,
      subject: payload.accountId ?? clientId,
      subjectKind,
      actorChain,
      clientId,
      scopes,
      audience: audience ?? null,
      resource: tokenContext.resource ?? audience ?? null,
      grantType,
      grantId: text(payload.grantId),
      approvalId: tokenContext.approvalId ?? null,
      dpopJkt: text(payload.jkt),
      issuedAt: time(payload.iat ?? now),
      expiresAt: time(payload.exp ?? now),
      decision: tokenContext.decision ?? null,
    },
    event: {
      action: event.action,
      outcome: event.outcome,
      actorKind: event.actorKind,
      actorId: event.actorId ?? null,
      userId: event.userId ?? null,
      agentId: event.agentId ?? null,
      actorChain: event.actorChain ?? null,
      clientId: event.clientId ?? null,
      requestId: event.requestId ?? null,
      ip: event.ip ?? null,
      details: event.details as Record<string, unknown>,
    },
  };
}

/** The tokens-issued counter, for a token just recorded (the same labels its record and audit event carry). */
function countIssued(model: string, payload: TokenPayload, context: RecordContext): void {
  const audience = Array.isArray(payload.aud) ? payload.aud[0] : payload.aud;
  metrics.tokensIssued.inc({
    grant_type: context.grantType ?? payload.gty ?? 'unknown',
    principal_kind: payload.accountId ? 'human' : context.clientKind,
    resource: tokenContextFor(context.state, payload, context.clientKind).resource ?? audience ?? '',
    token_kind: TOKEN_KINDS[model] ?? model,
  });
}

/**
 * The two recording seams. JWT access tokens are also stored as payloads (under their jti) so that introspection,
 * revocation and grant revocation treat them exactly like opaque tokens.
 */
export function createTokenRecorder(issued: Pick<IssuedTokenStore, 'record'>, hashId: (id: string) => string) {
  const context = (): RecordContext => {
    const request = currentRequest();
    // Refresh tokens are opaque: records and payload rows know them by their keyed hash.
    return { ...request, parentJti: request.parentJti ? hashId(request.parentJti) : undefined };
  };
  return {
    async recordJwt(_ctx: unknown, token: IssuedTokenModel, jwt: Record<string, unknown>): Promise<void> {
      const payload = storablePayload(token, jwt);
      const expiresIn = Math.max(1, (payload.exp ?? 0) - Math.floor(Date.now() / 1000));
      const recordContext = context();
      await issued.record(issuanceRow(token.kind, hashId(token.jti), payload, expiresIn, token.jti, 'jwt', recordContext));
      countIssued(token.kind, payload, recordContext);
    },
    /**
     * An ID-JAG signed here for another authorization server: recorded like a JWT access token (record, issuance
     * event, under its jti), so it is listed, audited and revoked like any token.
     */
    async recordIdJag(jti: string, payload: TokenPayload): Promise<void> {
      const recordContext = context();
      const expiresIn = Math.max(1, (payload.exp ?? 0) - Math.floor(Date.now() / 1000));
      await issued.record(issuanceRow('IdJag', hashId(jti), { ...payload, jti, kind: 'IdJag' } as TokenPayload & AdapterPayload, expiresIn, jti, 'jwt', recordContext));
      countIssued('IdJag', payload, recordContext);
    },
    /** The adapter's upsert of an opaque token: stored and recorded under the stored (hashed) id. */
    storeIssued(model: string, storedId: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void> | undefined {
      if (!isRecordedModel(model)) return undefined;
      const recordContext = context();
      return issued.record(issuanceRow(model, storedId, payload as TokenPayload & AdapterPayload, expiresIn, storedId, 'opaque', recordContext)).then(() => {
        countIssued(model, payload as TokenPayload, recordContext);
      });
    },
    /** A token's payload leaving storage before its expiry is a revocation: the revocation service records it. */
    onRemove(revocation: Pick<RevocationService, 'revokeRemoved'>) {
      const revoker = (): Revoker => {
        const request = currentRequest();
        const clientId = (Provider.ctx?.oidc?.client as { clientId?: string } | undefined)?.clientId;
        return { actor: { kind: clientId ? request.clientKind : 'system', id: clientId }, requestId: request.requestId, ip: request.ip };
      };
      return {
        // JWTs are recorded under their jti (the id here), opaque tokens under the stored hash.
        byId: (model: string, id: string, storedId: string) =>
          isRecordedModel(model) ? revocation.revokeRemoved({ ids: [id, storedId] }, revoker()) : Promise.resolve(0),
        byGrant: (model: string, grantId: string) =>
          isRecordedModel(model) ? revocation.revokeRemoved({ grantId, kind: TOKEN_KINDS[model]! }, revoker()) : Promise.resolve(0),
      };
    },
  };
}

/** What oidc-provider would have stored for this token had it been opaque: its model fields plus iat and exp. */
function storablePayload(token: IssuedTokenModel, jwt: Record<string, unknown>): TokenPayload & AdapterPayload {
  const payload: Record<string, unknown> = {};
  for (const field of token.constructor.IN_PAYLOAD) {
    if (token[field] !== undefined) payload[field] = token[field];
  }
  payload.iat = jwt.iat;
  payload.exp = jwt.exp;
  return payload as TokenPayload & AdapterPayload;
}

/** The request a token is being issued in (oidc-provider keeps it in AsyncLocalStorage). */
function currentRequest(): RecordContext {
  const ctx = Provider.ctx;
  const client = ctx?.oidc?.client as { principal_kind?: PrincipalKind } | undefined;
  const entities = (ctx?.oidc?.entities ?? {}) as { RefreshToken?: { jti: string }; RotatedRefreshToken?: { jti: string } };
  return {
    ...(ctx && requestOrigin(ctx)),
    state: ctx?.state,
    clientKind: client?.principal_kind ?? 'app',
    grantType: typeof ctx?.oidc?.params?.grant_type === 'string' ? ctx.oidc.params.grant_type : undefined,
    parentJti: (entities.RotatedRefreshToken ?? entities.RefreshToken)?.jti,
  };
}
